//! `/t/{code}`: the public traceability page a QR code on a package opens,
//! in the kit's shell (no sign-in).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use cunlink_web::{PageError, Visitor, public_page};

use super::{St, db};
use crate::trace;

pub(crate) async fn page(
    State(st): State<St>,
    v: Visitor,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let c = code.clone();
    let found = db(&st.market, move |conn| trace::lookup(conn, &c))
        .await
        .map_err(PageError::internal)?;
    let Some(p) = found else {
        let mut r = public_page(
            &st.kit,
            v.locale,
            "未找到",
            "<h1>未找到这个溯源码</h1><p>请核对包装上的二维码。</p>",
        );
        *r.status_mut() = StatusCode::NOT_FOUND;
        return Ok(r);
    };
    let reading = match &p.batch {
        Some(b) => Some(
            st.market
                .trace_reads
                .read(
                    st.market.farm.clone(),
                    b.asset_id,
                    b.grown_from,
                    b.harvested_at,
                )
                .await,
        ),
        None => None,
    };
    let title = format!(
        "{} · 产品溯源",
        p.product.clone().unwrap_or_else(|| "农产品".into())
    );
    Ok(public_page(
        &st.kit,
        v.locale,
        &title,
        &trace::render_body(&code, &p, reading.as_deref()),
    )
    .into_response())
}
