//! The demo village has village affairs to look at: notices, a published
//! ledger month, an open vote and a resident's feedback.

use serde_json::json;

use crate::affairs_notices::get_json;
use crate::common::spawn_app_with;

#[tokio::test]
async fn the_demo_village_has_affairs() {
    let app = spawn_app_with(|c| c.demo = true).await;
    let auth = app.server.as_ref().unwrap().auth.clone();
    let token = |name: &'static str| {
        let auth = auth.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let u = auth.user_by_name_blocking(name).unwrap();
                auth.create_api_token_blocking(u.id).unwrap()
            })
            .await
            .unwrap()
        }
    };
    let villager = token("cunmin").await;
    let official = token("cunguan").await;
    let (_, notices) = get_json(&app, "/api/affairs/notices", &villager).await;
    assert_eq!(notices.as_array().unwrap().len(), 3, "{notices}");
    let (_, months) = get_json(&app, "/api/affairs/ledger/months", &villager).await;
    assert_eq!(months.as_array().unwrap().len(), 1, "{months}");
    assert_eq!(months[0]["published"], true);
    let (_, month) = get_json(&app, "/api/affairs/ledger", &villager).await;
    assert_eq!(month["totals"]["income_fen"], 3_200_000, "{month}");
    let (_, votes) = get_json(&app, "/api/affairs/votes", &villager).await;
    assert_eq!(
        (votes[0]["closed"].clone(), votes.as_array().unwrap().len()),
        (json!(false), 1)
    );
    let (_, fb) = get_json(&app, "/api/affairs/feedback", &official).await;
    assert_eq!(fb.as_array().unwrap().len(), 1);
}
