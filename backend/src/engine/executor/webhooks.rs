//! "Send webhook": the request with the run's ids and its idempotency key (sent again with the
//! same key after a crash), and its follow-up rule queued with the done mark.

use domain::{
    event::Event,
    rule::{HttpMethod, KeyValue},
};

use super::{ActionError, ActionScope};
use crate::engine::{
    outbound::{self, WebhookRequest},
    Engine,
};

/// The names "send webhook" always sends beside the admin's body (the manual: "Request always
/// contains: Kommo entity ID, entity type, Rule ID, triggered condition group ID").
pub const WEBHOOK_RUN_KEYS: [&str; 4] = ["entity_id", "entity_type", "rule_id", "block_id"];

impl Engine {
    /// Sends the webhook and queues its follow-up rule with the done mark.
    #[allow(clippy::too_many_arguments)] // the action's own fields, as the dispatch binds them
    pub(super) async fn send_webhook(
        &self,
        scope: &ActionScope<'_>,
        action_key: &str,
        method: &HttpMethod,
        url: &str,
        headers: &[KeyValue<String>],
        body: &[KeyValue<String>],
        parse_response: &bool,
        follow_up_rule_id: &Option<i64>,
    ) -> Result<Option<String>, ActionError> {
        let request = WebhookRequest {
            method: *method,
            url: url.to_owned(),
            headers: headers
                .iter()
                .map(|h| (h.key.clone(), h.value.clone()))
                .collect(),
            body: with_run_ids(scope, body),
            idempotency_key: Some(outbound::idempotency_key(scope.account_id, action_key)),
        };
        let response = outbound::send(&request, &self.config.webhook).await?;
        let detail = if response.truncated {
            format!(
                "HTTP {}; only the first {} bytes of the answer were read",
                response.status, self.config.webhook.max_response_bytes
            )
        } else {
            format!("HTTP {}", response.status)
        };
        let mut follow_up = None;
        if let Some(rule_id) = follow_up_rule_id {
            let mut event = match scope.event.entity {
                Some(entity) => Event::about(
                    entity.entity_type,
                    entity.id,
                    domain::event::EventKind::RuleCall {
                        parent_rule_id: Some(scope.rule_id),
                        parent_entity: None,
                    },
                ),
                None => Event {
                    entity: None,
                    kind: domain::event::EventKind::RuleCall {
                        parent_rule_id: Some(scope.rule_id),
                        parent_entity: None,
                    },
                    vars: Default::default(),
                },
            };
            if *parse_response {
                event.vars = response.vars.clone();
            }
            follow_up =
                Some(self.rule_call_job(scope.account_id, *rule_id, &event, scope.depth + 1));
        }
        self.queue_and_finish(scope, follow_up.as_ref(), action_key, &detail)
            .await?;
        Ok(Some(detail))
    }
}

/// The admin's body followed by the run's entity id and type (empty without an entity), rule id
/// and block id; an admin's pair of one of those names gives way to the run's.
fn with_run_ids(
    scope: &ActionScope<'_>,
    body: &[domain::rule::KeyValue<String>],
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = body
        .iter()
        .filter(|b| !WEBHOOK_RUN_KEYS.contains(&b.key.as_str()))
        .map(|b| (b.key.clone(), b.value.clone()))
        .collect();
    let entity = scope.event.entity;
    let values = [
        entity.map_or_else(String::new, |e| e.id.to_string()),
        entity.map_or_else(String::new, |e| e.entity_type.as_str().to_owned()),
        scope.rule_id.to_string(),
        scope.block_id.to_string(),
    ];
    for (key, value) in WEBHOOK_RUN_KEYS.iter().zip(values) {
        pairs.push(((*key).to_owned(), value));
    }
    pairs
}
