//! The parts of the rule model that Kommo's public API cannot serve: the backend refuses to save or
//! enable a rule that uses one (422 with [`CODE`]), and the builder offers them disabled with the
//! reason. One list, so the two never disagree.

use crate::rule::{Action, ActionKind, Rule, Trigger};

/// The problem code of a rule part Kommo cannot serve.
pub const CODE: &str = "unavailable_in_kommo";

/// A trigger or action kind that cannot work through Kommo's public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The trigger "outgoing message seen": Kommo tells integrations nothing when a client reads a
    /// message; only the chat channel that delivered it learns the read status.
    OutgoingMessageSeen,
    /// The action "chat subscription": Kommo's public API has no way to subscribe users to a
    /// lead's chat.
    ChatSubscription,
}

impl Unavailable {
    /// Every one, in the order the builder lists them.
    pub const ALL: [Unavailable; 2] = [
        Unavailable::OutgoingMessageSeen,
        Unavailable::ChatSubscription,
    ];

    /// The trigger kind (`Trigger::name`) Kommo cannot serve, if `kind` is one.
    pub fn of_trigger_kind(kind: &str) -> Option<Unavailable> {
        Self::ALL
            .into_iter()
            .find(|u| u.is_trigger() && u.kind() == kind)
    }

    /// The action kind (`ActionKind::name`) Kommo cannot serve, if `kind` is one.
    pub fn of_action_kind(kind: &str) -> Option<Unavailable> {
        Self::ALL
            .into_iter()
            .find(|u| !u.is_trigger() && u.kind() == kind)
    }

    /// Whether this is a trigger kind (else an action kind).
    pub fn is_trigger(self) -> bool {
        match self {
            Unavailable::OutgoingMessageSeen => true,
            Unavailable::ChatSubscription => false,
        }
    }

    /// The kind's name as the rule's JSON spells it.
    pub fn kind(self) -> &'static str {
        match self {
            Unavailable::OutgoingMessageSeen => "outgoing_message_seen",
            Unavailable::ChatSubscription => "chat_subscription",
        }
    }

    /// Why it cannot work, in English (the API's problem message; the widget shows its own
    /// translation of the same reason).
    pub fn reason(self) -> &'static str {
        match self {
            Unavailable::OutgoingMessageSeen => {
                "The trigger \"outgoing message seen\" cannot work: Kommo tells integrations \
                 nothing when a client reads a message (only the chat channel that delivered it \
                 learns the read status)."
            }
            Unavailable::ChatSubscription => {
                "The action \"chat subscription\" cannot work: Kommo's public API offers no way \
                 to subscribe users to a lead's chat."
            }
        }
    }
}

/// Every part of `rule` Kommo cannot serve, each with its JSON pointer into the rule (`/trigger`,
/// `/blocks/0/actions/1`, `/else_scenario/actions/0`), as `validate`'s problems have.
pub fn in_rule(rule: &Rule) -> Vec<(String, Unavailable)> {
    let mut found = Vec::new();
    if let Some(u) = Unavailable::of_trigger_kind(trigger_kind(&rule.trigger)) {
        found.push(("/trigger".to_string(), u));
    }
    let mut check = |actions: &[Action], at: String| {
        for (a, action) in actions.iter().enumerate() {
            if let Some(u) = Unavailable::of_action_kind(action_kind(&action.kind)) {
                found.push((format!("{at}/actions/{a}"), u));
            }
        }
    };
    for (b, block) in rule.blocks.iter().enumerate() {
        check(&block.actions, format!("/blocks/{b}"));
    }
    if let Some(scenario) = &rule.else_scenario {
        check(&scenario.actions, "/else_scenario".into());
    }
    found
}

fn trigger_kind(trigger: &Trigger) -> &'static str {
    trigger.name()
}

fn action_kind<T>(kind: &ActionKind<T>) -> &'static str {
    kind.name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_found_by_name_and_only_on_their_side() {
        assert_eq!(
            Unavailable::of_action_kind("chat_subscription"),
            Some(Unavailable::ChatSubscription)
        );
        assert_eq!(
            Unavailable::of_trigger_kind("outgoing_message_seen"),
            Some(Unavailable::OutgoingMessageSeen)
        );
        assert_eq!(Unavailable::of_trigger_kind("chat_subscription"), None);
        assert_eq!(Unavailable::of_action_kind("add_note"), None);
        for u in Unavailable::ALL {
            assert!(u.reason().contains("cannot work"));
        }
    }

    #[test]
    fn a_rule_names_each_unavailable_part_by_pointer() {
        let rule: Rule = serde_json::from_value(serde_json::json!({
            "schema_version": 2,
            "name": "x",
            "trigger": {"kind": "outgoing_message_seen"},
            "blocks": [{"name": "b", "conditions": [], "actions": [
                {"do": {"type": "add_note", "entity": "lead", "text": "hi"}},
                {"do": {"type": "chat_subscription", "subscribe": true, "user_ids": [1]}}
            ]}],
            "else_scenario": {"actions": [
                {"do": {"type": "chat_subscription", "subscribe": false, "user_ids": [1]}}
            ]}
        }))
        .expect("a rule");
        assert_eq!(
            in_rule(&rule),
            vec![
                ("/trigger".to_string(), Unavailable::OutgoingMessageSeen),
                (
                    "/blocks/0/actions/1".to_string(),
                    Unavailable::ChatSubscription
                ),
                (
                    "/else_scenario/actions/0".to_string(),
                    Unavailable::ChatSubscription
                ),
            ]
        );
    }
}
