//! What a condition can compare: the operands a rule's trigger makes available, grouped and typed,
//! and the operators that fit each type.

use domain::rule::{Operand, Operator};
use domain::schema::Schema;

use crate::i18n::Texts;

/// An operand as the user reads it ("Lead: Order type", "Global variable missed_calls").
pub fn operand_label(operand: &Operand, _schema: &Schema, _texts: &Texts) -> String {
    match operand {
        Operand::Path(p) => p.to_string(),
        Operand::Global(name) => format!("{{{name}}}"),
        Operand::Webhook(name) => format!("{{{name}}}"),
        Operand::Literal(l) => serde_json::to_string(l).unwrap_or_default(),
    }
}

/// An operator as the user reads it ("equals", "is within the last 3 days").
pub fn operator_label(operator: &Operator, _texts: &Texts) -> String {
    operator.name().replace('_', " ")
}
