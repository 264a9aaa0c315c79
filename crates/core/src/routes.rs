//! [`Routes`]: an axum router that remembers the paths registered on it.
//!
//! axum's `Router` cannot list its routes, yet the access-matrix test
//! (`crates/cunlink/tests/api/access_matrix.rs`) must walk every route the server
//! answers, so that a route added without a declared access rule fails a test
//! instead of shipping unchecked. Every domain builds its router with `Routes`:
//! its `route` has axum's signature and also records the path, so there is no
//! second list to forget. Which methods a path takes is read back from the
//! server itself (the `Allow` header of a 405), not recorded here.

use std::convert::Infallible;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, Route};
use tower_layer::Layer;
use tower_service::Service;

/// A router plus the paths registered on it, in registration order.
pub struct Routes<S = ()> {
    router: Router<S>,
    paths: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes::new()
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// [`Router::route`], recording `path`.
    pub fn route(mut self, path: &str, method_router: MethodRouter<S>) -> Self {
        self.paths.push(path.to_string());
        self.router = self.router.route(path, method_router);
        self
    }

    /// [`Router::merge`] of another recorded router.
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.paths.extend(other.paths);
        self.router = self.router.merge(other.router);
        self
    }

    /// [`Router::layer`]: wraps the routes registered so far.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    /// [`Router::with_state`].
    pub fn with_state<S2>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
            paths: self.paths,
        }
    }

    /// Paths registered so far (axum syntax: `/api/devices/{name}`).
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The axum router and the recorded paths.
    pub fn into_parts(self) -> (Router<S>, Vec<String>) {
        (self.router, self.paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[test]
    fn merged_routes_keep_every_path() {
        let a: Routes = Routes::new().route("/a", get(|| async { "a" }));
        let b = Routes::<u8>::new()
            .route("/b/{id}", get(|| async { "b" }))
            .with_state(1u8);
        assert_eq!(a.merge(b).paths(), ["/a", "/b/{id}"]);
    }
}
