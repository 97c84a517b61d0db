//! The rule builder's state, DOM-free so plain `cargo test` covers it (yew's function_todomvc
//! pattern): an [`Editor`] holds the rule being built as the domain's own [`Rule`], and every change
//! the screen can make is one [`EditorAction`], reduced in one place.
//!
//! - [`catalog`]: what a condition can compare (operands grouped by entity, with their types) and the
//!   operators that fit each type.
//! - [`kinds`]: every trigger and action kind of the domain, each with a valid starting value.
//! - [`sentence`]: a block, trigger, condition or action as a sentence, for collapsed blocks.
//! - [`recipes`]: the gallery of ready rules, built with the account's own pipelines and users.
//!
//! Ids never change on a move: a new block or action takes the next free id of the rule, and moves,
//! duplicates and removals keep every other id, so timers and "cancel delayed actions" keep pointing
//! at the same block and action.

pub mod catalog;
pub mod kinds;
pub mod recipes;
pub mod sentence;

use std::rc::Rc;

use domain::api::FieldError;
use domain::rule::{Action, Block, Condition, ElseScenario, Frequency, Rule, Trigger};
use domain::schema::Schema;
use domain::snapshot::WeeklyHours;

/// Which list of actions an action belongs to: a block's, or the else scenario's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionList {
    /// The actions of block `n` (0-based).
    Block(usize),
    /// The else scenario's actions.
    Else,
}

impl ActionList {
    /// The JSON pointer of the list (`/blocks/0/actions`, `/else_scenario/actions`).
    pub fn pointer(self) -> String {
        match self {
            ActionList::Block(b) => format!("/blocks/{b}/actions"),
            ActionList::Else => "/else_scenario/actions".into(),
        }
    }
}

/// What was moved, for the `aria-live` announcement (WCAG 2.2 2.5.7): the screen words it in the
/// user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// `block`, `condition` or `action`.
    pub what: &'static str,
    /// The moved item's name, or its sentence when it has none.
    pub name: String,
    /// Its new position, 1-based.
    pub position: usize,
    /// How many items the list holds.
    pub total: usize,
}

/// One change the builder can make. Indexes are positions at the time of the change.
#[derive(Debug, Clone, PartialEq)]
pub enum EditorAction {
    /// Start editing a stored rule (or a new one when `id` is `None`).
    Load {
        /// The stored rule's id.
        id: Option<i64>,
        /// The version the edit starts from.
        version: Option<i64>,
        /// The rule.
        rule: Rule,
    },
    /// The server stored the rule as `version`.
    Saved {
        /// The rule's id.
        id: i64,
        /// The stored version.
        version: i64,
        /// The rule as stored.
        rule: Rule,
    },
    /// The server refused the rule; each problem names its JSON pointer.
    ServerProblems(Vec<FieldError>),
    /// Replace the whole rule (the source view, a restored version).
    Replace(Rule),
    /// The rule's name.
    SetName(String),
    /// The rule's description.
    SetDescription(String),
    /// The trigger.
    SetTrigger(Trigger),
    /// The run frequency.
    SetFrequency(Frequency),
    /// The active hours (`None`: always).
    SetActiveHours(Option<WeeklyHours>),
    /// Add an empty block at the end.
    AddBlock,
    /// Remove block `n`.
    RemoveBlock(usize),
    /// Copy block `n` just below it, with fresh ids.
    DuplicateBlock(usize),
    /// Move block `from` to position `to`.
    MoveBlock {
        /// Its position now.
        from: usize,
        /// Its position after the move.
        to: usize,
    },
    /// Block `n`'s name.
    SetBlockName(usize, String),
    /// Block `n`'s delay before its conditions are checked, seconds.
    SetBlockDelay(usize, u32),
    /// Collapse or expand block `n` (shown as a sentence when collapsed).
    ToggleCollapsed(usize),
    /// Append a condition to block `n`.
    AddCondition(usize, Condition),
    /// Replace condition `index` of block `block`.
    SetCondition {
        /// The block.
        block: usize,
        /// The condition.
        index: usize,
        /// Its new value.
        condition: Condition,
    },
    /// Remove a condition.
    RemoveCondition {
        /// The block.
        block: usize,
        /// The condition.
        index: usize,
    },
    /// Move a condition within its block.
    MoveCondition {
        /// The block.
        block: usize,
        /// Its position now.
        from: usize,
        /// Its position after the move.
        to: usize,
    },
    /// Append an action to a list; it gets the next free action id.
    AddAction(ActionList, Action),
    /// Replace an action (its id is kept).
    SetAction {
        /// The list.
        list: ActionList,
        /// The action's position.
        index: usize,
        /// Its new value.
        action: Action,
    },
    /// Remove an action.
    RemoveAction {
        /// The list.
        list: ActionList,
        /// The action's position.
        index: usize,
    },
    /// Copy an action just below it, with a fresh id.
    DuplicateAction {
        /// The list.
        list: ActionList,
        /// The action's position.
        index: usize,
    },
    /// Move an action within its list.
    MoveAction {
        /// The list.
        list: ActionList,
        /// Its position now.
        from: usize,
        /// Its position after the move.
        to: usize,
    },
    /// Switch the else scenario on (empty) or off (its actions are dropped).
    SetElse(bool),
}

/// The most blocks a loaded rule shows open: a longer rule opens with every block collapsed to its
/// sentence (cheap to draw, quick to scan), and the admin opens the one to edit.
pub const OPEN_BLOCKS: usize = 3;

/// The rule being built, and what the screen needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Editor {
    /// The stored rule's id, `None` until first saved.
    pub id: Option<i64>,
    /// The version the edit started from (sent as `expected_version`).
    pub version: Option<i64>,
    /// The rule as edited.
    pub rule: Rule,
    /// The rule as last loaded or saved: the edit is dirty while they differ.
    pub pristine: Rule,
    /// The block ids shown collapsed. Loading a rule of more than [`OPEN_BLOCKS`] blocks collapses
    /// them all; added and duplicated blocks start open, and so does a block with a problem.
    pub collapsed: Vec<u32>,
    /// The server's problems of the last save, by JSON pointer; cleared by any edit.
    pub server_problems: Vec<FieldError>,
    /// The last move, for the `aria-live` region.
    pub moved: Option<Moved>,
}

impl Default for Editor {
    fn default() -> Self {
        Self::new_rule()
    }
}

impl Editor {
    /// A new rule: a lead-added trigger and one empty block, unsaved.
    pub fn new_rule() -> Self {
        let rule = kinds::new_rule();
        Self {
            id: None,
            version: None,
            pristine: rule.clone(),
            rule,
            collapsed: Vec::new(),
            server_problems: Vec::new(),
            moved: None,
        }
    }

    /// Whether the rule differs from what was loaded or saved.
    pub fn is_dirty(&self) -> bool {
        self.rule != self.pristine || self.id.is_none()
    }

    /// Every problem to show: the local check with the account's schema (the backend runs the same
    /// `domain::validate`), then the server's problems of the last save that the local check did
    /// not find.
    pub fn problems(&self, schema: Option<&Schema>) -> Vec<FieldError> {
        let mut out: Vec<FieldError> = domain::validate::validate_with(&self.rule, schema)
            .into_iter()
            .map(Into::into)
            .collect();
        if self.rule.name.trim().is_empty() {
            out.insert(
                0,
                FieldError {
                    path: "/name".into(),
                    code: "required".into(),
                    message: "A rule needs a name.".into(),
                },
            );
        }
        for p in &self.server_problems {
            if !out.iter().any(|o| o.path == p.path) {
                out.push(p.clone());
            }
        }
        out
    }

    /// Opens every collapsed block that one of `problems` points into, so each problem shows at its
    /// control.
    pub fn open_blocks_with(&mut self, problems: &[FieldError]) {
        let blocks = &self.rule.blocks;
        let with_problem = |id: &u32| {
            let Some(n) = blocks.iter().position(|b| b.id == *id) else {
                return false;
            };
            let pointer = format!("/blocks/{n}");
            problems.iter().any(|p| {
                p.path
                    .strip_prefix(&pointer)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        };
        self.collapsed.retain(|id| !with_problem(id));
    }

    /// Whether block `n` is shown collapsed.
    pub fn is_collapsed(&self, block: usize) -> bool {
        self.rule
            .blocks
            .get(block)
            .is_some_and(|b| self.collapsed.contains(&b.id))
    }

    fn next_block_id(&self) -> u32 {
        self.rule.blocks.iter().map(|b| b.id).max().unwrap_or(0) + 1
    }

    fn next_action_id(&self) -> u32 {
        let blocks = self.rule.blocks.iter().flat_map(|b| b.actions.iter());
        let els = self
            .rule
            .else_scenario
            .iter()
            .flat_map(|e| e.actions.iter());
        blocks.chain(els).map(|a| a.id).max().unwrap_or(0) + 1
    }

    fn actions_mut(&mut self, list: ActionList) -> Option<&mut Vec<Action>> {
        match list {
            ActionList::Block(b) => self.rule.blocks.get_mut(b).map(|b| &mut b.actions),
            ActionList::Else => self.rule.else_scenario.as_mut().map(|e| &mut e.actions),
        }
    }

    /// Applies one change. Changes that name a position that does not exist change nothing.
    pub fn apply(&mut self, action: EditorAction) {
        let edits = !matches!(
            action,
            EditorAction::Load { .. }
                | EditorAction::Saved { .. }
                | EditorAction::ServerProblems(_)
                | EditorAction::ToggleCollapsed(_)
        );
        if edits {
            self.server_problems.clear();
            self.moved = None;
        }
        match action {
            EditorAction::Load { id, version, rule } => {
                *self = Editor {
                    id,
                    version,
                    pristine: rule.clone(),
                    rule,
                    ..Editor::new_rule()
                };
                self.ensure_ids();
                self.pristine = self.rule.clone();
                if self.rule.blocks.len() > OPEN_BLOCKS {
                    self.collapsed = self.rule.blocks.iter().map(|b| b.id).collect();
                }
            }
            EditorAction::Saved { id, version, rule } => {
                self.id = Some(id);
                self.version = Some(version);
                self.pristine = rule.clone();
                self.rule = rule;
                self.server_problems.clear();
            }
            EditorAction::ServerProblems(problems) => {
                self.open_blocks_with(&problems);
                self.server_problems = problems;
            }
            EditorAction::Replace(rule) => {
                self.rule = rule;
                self.ensure_ids();
            }
            EditorAction::SetName(name) => self.rule.name = name,
            EditorAction::SetDescription(d) => self.rule.description = d,
            EditorAction::SetTrigger(t) => self.rule.trigger = t,
            EditorAction::SetFrequency(f) => self.rule.frequency = f,
            EditorAction::SetActiveHours(h) => self.rule.active_hours = h,
            EditorAction::AddBlock => {
                let id = self.next_block_id();
                self.rule.blocks.push(Block {
                    id,
                    name: String::new(),
                    delay_seconds: 0,
                    conditions: Vec::new(),
                    actions: Vec::new(),
                });
            }
            EditorAction::RemoveBlock(n) => {
                if n < self.rule.blocks.len() {
                    let removed = self.rule.blocks.remove(n);
                    self.collapsed.retain(|id| *id != removed.id);
                }
            }
            EditorAction::DuplicateBlock(n) => {
                if let Some(block) = self.rule.blocks.get(n).cloned() {
                    let mut copy = block;
                    copy.id = self.next_block_id();
                    for (id, a) in (self.next_action_id()..).zip(copy.actions.iter_mut()) {
                        a.id = id;
                    }
                    self.rule.blocks.insert(n + 1, copy);
                }
            }
            EditorAction::MoveBlock { from, to } => {
                if let Some(to) = move_item(&mut self.rule.blocks, from, to) {
                    let b = &self.rule.blocks[to];
                    self.moved = Some(Moved {
                        what: "block",
                        name: b.name.clone(),
                        position: to + 1,
                        total: self.rule.blocks.len(),
                    });
                }
            }
            EditorAction::SetBlockName(n, name) => {
                if let Some(b) = self.rule.blocks.get_mut(n) {
                    b.name = name;
                }
            }
            EditorAction::SetBlockDelay(n, s) => {
                if let Some(b) = self.rule.blocks.get_mut(n) {
                    b.delay_seconds = s;
                }
            }
            EditorAction::ToggleCollapsed(n) => {
                if let Some(id) = self.rule.blocks.get(n).map(|b| b.id) {
                    if let Some(i) = self.collapsed.iter().position(|c| *c == id) {
                        self.collapsed.remove(i);
                    } else {
                        self.collapsed.push(id);
                    }
                }
            }
            EditorAction::AddCondition(n, c) => {
                if let Some(b) = self.rule.blocks.get_mut(n) {
                    b.conditions.push(c);
                }
            }
            EditorAction::SetCondition {
                block,
                index,
                condition,
            } => {
                if let Some(c) = self
                    .rule
                    .blocks
                    .get_mut(block)
                    .and_then(|b| b.conditions.get_mut(index))
                {
                    *c = condition;
                }
            }
            EditorAction::RemoveCondition { block, index } => {
                if let Some(b) = self.rule.blocks.get_mut(block) {
                    if index < b.conditions.len() {
                        b.conditions.remove(index);
                    }
                }
            }
            EditorAction::MoveCondition { block, from, to } => {
                if let Some(b) = self.rule.blocks.get_mut(block) {
                    if let Some(to) = move_item(&mut b.conditions, from, to) {
                        let total = b.conditions.len();
                        self.moved = Some(Moved {
                            what: "condition",
                            name: String::new(),
                            position: to + 1,
                            total,
                        });
                    }
                }
            }
            EditorAction::AddAction(list, mut a) => {
                a.id = self.next_action_id();
                if let Some(actions) = self.actions_mut(list) {
                    actions.push(a);
                }
            }
            EditorAction::SetAction {
                list,
                index,
                mut action,
            } => {
                if let Some(slot) = self.actions_mut(list).and_then(|l| l.get_mut(index)) {
                    action.id = slot.id;
                    *slot = action;
                }
            }
            EditorAction::RemoveAction { list, index } => {
                if let Some(actions) = self.actions_mut(list) {
                    if index < actions.len() {
                        actions.remove(index);
                    }
                }
            }
            EditorAction::DuplicateAction { list, index } => {
                let id = self.next_action_id();
                if let Some(actions) = self.actions_mut(list) {
                    if let Some(mut copy) = actions.get(index).cloned() {
                        copy.id = id;
                        actions.insert(index + 1, copy);
                    }
                }
            }
            EditorAction::MoveAction { list, from, to } => {
                if let Some(actions) = self.actions_mut(list) {
                    if let Some(to) = move_item(actions, from, to) {
                        let a = &actions[to];
                        self.moved = Some(Moved {
                            what: "action",
                            name: a.name.clone(),
                            position: to + 1,
                            total: actions.len(),
                        });
                    }
                }
            }
            EditorAction::SetElse(on) => {
                self.rule.else_scenario = match (on, self.rule.else_scenario.take()) {
                    (true, Some(e)) => Some(e),
                    (true, None) => Some(ElseScenario {
                        actions: Vec::new(),
                    }),
                    (false, _) => None,
                };
            }
        }
    }

    /// Gives every block and action without an id (0) the next free one, so that moves keep them.
    fn ensure_ids(&mut self) {
        let mut next = self.next_block_id();
        for b in &mut self.rule.blocks {
            if b.id == 0 {
                b.id = next;
                next += 1;
            }
        }
        let mut next = self.next_action_id();
        let blocks = self
            .rule
            .blocks
            .iter_mut()
            .flat_map(|b| b.actions.iter_mut());
        let els = self
            .rule
            .else_scenario
            .iter_mut()
            .flat_map(|e| e.actions.iter_mut());
        for a in blocks.chain(els) {
            if a.id == 0 {
                a.id = next;
                next += 1;
            }
        }
    }
}

/// Moves `items[from]` to position `to` (clamped); the new position, or `None` when nothing moved.
fn move_item<T>(items: &mut Vec<T>, from: usize, to: usize) -> Option<usize> {
    if from >= items.len() || items.is_empty() {
        return None;
    }
    let to = to.min(items.len() - 1);
    if to == from {
        return None;
    }
    let item = items.remove(from);
    items.insert(to, item);
    Some(to)
}

impl yew::Reducible for Editor {
    type Action = EditorAction;

    fn reduce(self: Rc<Self>, action: EditorAction) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::rule::{ActionKind, Operand, Operator, Timer};
    use domain::template::Template;

    fn note(text: &str) -> Action {
        Action {
            id: 0,
            name: text.into(),
            timer: Timer::None,
            replace_pending: false,
            kind: ActionKind::AddNote {
                entity: domain::path::EntityRole::Lead,
                text: Template::new(text),
                system: false,
            },
        }
    }

    fn named_blocks(e: &Editor) -> Vec<(u32, String)> {
        e.rule
            .blocks
            .iter()
            .map(|b| (b.id, b.name.clone()))
            .collect()
    }

    #[test]
    fn a_new_rule_is_valid_and_dirty_until_saved() {
        let e = Editor::new_rule();
        assert!(e.problems(None).is_empty(), "{:?}", e.problems(None));
        assert!(e.is_dirty());
    }

    #[test]
    fn moving_blocks_keeps_their_ids_and_announces_the_new_place() {
        let mut e = Editor::new_rule();
        e.apply(EditorAction::SetBlockName(0, "If wholesale".into()));
        e.apply(EditorAction::AddBlock);
        e.apply(EditorAction::SetBlockName(1, "If retail".into()));
        let before = named_blocks(&e);
        e.apply(EditorAction::MoveBlock { from: 1, to: 0 });
        let after = named_blocks(&e);
        assert_eq!(after, vec![before[1].clone(), before[0].clone()]);
        assert_eq!(
            e.moved,
            Some(Moved {
                what: "block",
                name: "If retail".into(),
                position: 1,
                total: 2
            })
        );
        // A move past the end is clamped; a move to the same place is nothing.
        e.apply(EditorAction::MoveBlock { from: 0, to: 9 });
        assert_eq!(named_blocks(&e), before);
        e.apply(EditorAction::MoveBlock { from: 1, to: 1 });
        assert_eq!(e.moved, None);
    }

    #[test]
    fn actions_get_fresh_ids_that_survive_moves_duplicates_and_removals() {
        let mut e = Editor::new_rule();
        e.apply(EditorAction::AddAction(ActionList::Block(0), note("a")));
        e.apply(EditorAction::AddAction(ActionList::Block(0), note("b")));
        e.apply(EditorAction::DuplicateAction {
            list: ActionList::Block(0),
            index: 0,
        });
        let ids: Vec<(u32, String)> = e.rule.blocks[0]
            .actions
            .iter()
            .map(|a| (a.id, a.name.clone()))
            .collect();
        assert_eq!(ids, vec![(1, "a".into()), (3, "a".into()), (2, "b".into())]);
        e.apply(EditorAction::MoveAction {
            list: ActionList::Block(0),
            from: 2,
            to: 0,
        });
        e.apply(EditorAction::RemoveAction {
            list: ActionList::Block(0),
            index: 2,
        });
        let ids: Vec<u32> = e.rule.blocks[0].actions.iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![2, 1]);
        // Replacing an action keeps its id whatever the form sent.
        let mut changed = note("c");
        changed.id = 99;
        e.apply(EditorAction::SetAction {
            list: ActionList::Block(0),
            index: 0,
            action: changed,
        });
        assert_eq!(e.rule.blocks[0].actions[0].id, 2);
    }

    #[test]
    fn the_else_scenario_takes_actions_only_while_on() {
        let mut e = Editor::new_rule();
        e.apply(EditorAction::AddAction(ActionList::Else, note("x")));
        assert!(e.rule.else_scenario.is_none());
        e.apply(EditorAction::SetElse(true));
        e.apply(EditorAction::AddAction(ActionList::Else, note("x")));
        assert_eq!(
            e.rule.else_scenario.as_ref().map(|s| s.actions.len()),
            Some(1)
        );
        e.apply(EditorAction::SetElse(false));
        assert!(e.rule.else_scenario.is_none());
    }

    #[test]
    fn an_edit_clears_the_servers_problems_and_a_save_makes_it_clean() {
        let mut e = Editor::new_rule();
        e.apply(EditorAction::ServerProblems(vec![FieldError {
            path: "/blocks/0".into(),
            code: "x".into(),
            message: "no".into(),
        }]));
        assert_eq!(e.problems(None).len(), 1);
        e.apply(EditorAction::SetName("Renamed".into()));
        assert!(e.problems(None).is_empty());
        let rule = e.rule.clone();
        e.apply(EditorAction::Saved {
            id: 7,
            version: 1,
            rule,
        });
        assert!(!e.is_dirty());
        e.apply(EditorAction::SetBlockDelay(0, 60));
        assert!(e.is_dirty());
    }

    #[test]
    fn a_blank_name_is_a_problem_at_the_name() {
        let mut e = Editor::new_rule();
        e.apply(EditorAction::SetName("  ".into()));
        assert_eq!(e.problems(None)[0].path, "/name");
    }

    #[test]
    fn loading_gives_ids_to_blocks_and_actions_that_had_none() {
        let mut rule = kinds::new_rule();
        rule.blocks[0].id = 0;
        rule.blocks[0].actions = vec![note("a"), note("b")];
        rule.blocks[0].conditions.push(Condition {
            join: Default::default(),
            left: Operand::Path("lead.name".parse().expect("path")),
            op: Operator::IsNotEmpty,
            right: None,
            right_upper: None,
        });
        let mut e = Editor::default();
        e.apply(EditorAction::Load {
            id: Some(3),
            version: Some(2),
            rule,
        });
        assert_eq!(e.rule.blocks[0].id, 1);
        let ids: Vec<u32> = e.rule.blocks[0].actions.iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![1, 2]);
    }

    fn rule_of(blocks: usize) -> Rule {
        let mut rule = kinds::new_rule();
        let first = rule.blocks[0].clone();
        rule.blocks = (1..=blocks as u32)
            .map(|id| Block {
                id,
                name: format!("B{id}"),
                ..first.clone()
            })
            .collect();
        rule
    }

    fn load(rule: Rule) -> Editor {
        let mut e = Editor::default();
        e.apply(EditorAction::Load {
            id: Some(1),
            version: Some(1),
            rule,
        });
        e
    }

    #[test]
    fn a_short_rule_opens_expanded_and_a_long_one_collapsed() {
        let short = load(rule_of(OPEN_BLOCKS));
        assert!((0..OPEN_BLOCKS).all(|n| !short.is_collapsed(n)));
        let long = load(rule_of(30));
        assert!((0..30).all(|n| long.is_collapsed(n)));
    }

    #[test]
    fn added_and_duplicated_blocks_start_open_and_a_toggle_opens_one() {
        let mut e = load(rule_of(5));
        e.apply(EditorAction::ToggleCollapsed(2));
        assert!(!e.is_collapsed(2));
        assert!(e.is_collapsed(1) && e.is_collapsed(3));
        e.apply(EditorAction::DuplicateBlock(0));
        assert!(e.is_collapsed(0) && !e.is_collapsed(1));
        e.apply(EditorAction::AddBlock);
        assert!(!e.is_collapsed(6));
    }

    #[test]
    fn a_block_with_a_problem_opens() {
        let mut e = load(rule_of(12));
        let problem = |path: &str| FieldError {
            path: path.into(),
            code: "invalid".into(),
            message: "wrong".into(),
        };
        e.open_blocks_with(&[problem("/blocks/1/conditions/0"), problem("/blocks/30")]);
        assert!(!e.is_collapsed(1));
        // "/blocks/1" names block 1, not blocks 10 and 11.
        assert!(e.is_collapsed(0) && e.is_collapsed(10) && e.is_collapsed(11));
        e.apply(EditorAction::ServerProblems(vec![problem("/blocks/4")]));
        assert!(!e.is_collapsed(4));
        assert!(e.is_collapsed(3) && e.is_collapsed(2));
    }
}
