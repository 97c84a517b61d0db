//! Rules, triggers, blocks, conditions and actions as sentences in the user's language, for
//! collapsed blocks and the rules list.

use domain::rule::Block;
use domain::schema::Schema;

use crate::i18n::Texts;

/// A block as one sentence: "If <conditions> → <actions>".
pub fn block(block: &Block, _schema: &Schema, texts: &Texts) -> String {
    let actions: Vec<&str> = block.actions.iter().map(|a| a.kind.name()).collect();
    format!(
        "{} {} → {}",
        texts.get("sentence_if"),
        block.conditions.len(),
        actions.join("; ")
    )
}

/// A trigger in words, for the rules list ("When a lead is added").
pub fn trigger(trigger: &domain::rule::Trigger, _schema: &Schema, texts: &Texts) -> String {
    texts
        .get(&format!("trg_kind_{}", trigger.name()))
        .to_string()
}
