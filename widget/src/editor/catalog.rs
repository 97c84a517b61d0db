//! What a condition can compare: the operands a rule's trigger makes available, grouped and typed,
//! and the operators that fit each type.
