//! The recipe gallery "New rule" opens: the blank rule and the manual's ready rules, each a card
//! whose button (title and one sentence) opens the recipe in the builder, built with the account's
//! own pipelines, users and fields. Where a recipe asks for people (the managers of wholesale and
//! retail orders) the card has a labelled user picker for each, preset to the account's first
//! active users.

use std::collections::HashMap;
use std::rc::Rc;

use domain::rule::Rule;
use domain::schema::Schema;
use yew::prelude::*;

use super::pickers;
use crate::components::controls::Select;
use crate::editor::recipes::{Recipe, RECIPES};
use crate::i18n::Texts;

/// Props of [`RecipeGallery`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct RecipeGalleryProps {
    /// Called with the rule to open in the builder (a recipe, or the blank rule).
    pub on_pick: Callback<Rule>,
    /// The account's schema the recipes are built with (an empty account without it).
    #[prop_or_default]
    pub schema: Option<Rc<Schema>>,
    /// Interface texts.
    #[prop_or_default]
    pub texts: Texts,
}

/// The gallery.
#[function_component(RecipeGallery)]
pub fn recipe_gallery(props: &RecipeGalleryProps) -> Html {
    let schema = props.schema.clone().unwrap_or_default();
    let texts = props.texts.clone();
    // The people picked per recipe, by the picker's position.
    let chosen = use_state(HashMap::<(Recipe, usize), i64>::new);
    let t = |k: &str| texts.get(k).to_string();

    let cards = RECIPES.iter().map(|&recipe| {
        let key = recipe.key();
        // What each picker shows: the admin's choice, else the account's i-th active user.
        let users_of = {
            let (chosen, schema) = (chosen.clone(), schema.clone());
            move || {
                (0..recipe.users_asked())
                    .filter_map(|i| {
                        chosen
                            .get(&(recipe, i))
                            .copied()
                            .or_else(|| preset_user(&schema, i))
                    })
                    .collect::<Vec<i64>>()
            }
        };
        let pick = {
            let (cb, schema, texts, users_of) = (
                props.on_pick.clone(),
                schema.clone(),
                texts.clone(),
                users_of.clone(),
            );
            Callback::from(move |_: MouseEvent| cb.emit(recipe.build(&schema, &texts, &users_of())))
        };
        let user_pickers = (0..recipe.users_asked()).map(|i| {
            let options = pickers::users(&schema, &texts, false);
            let preset = preset_user(&schema, i);
            let value = chosen.get(&(recipe, i)).copied().or(preset);
            let on_change = {
                let chosen = chosen.clone();
                Callback::from(move |v: String| {
                    if let Ok(id) = v.parse::<i64>() {
                        let mut next = (*chosen).clone();
                        next.insert((recipe, i), id);
                        // The other pickers keep what they show.
                        chosen.set(next);
                    }
                })
            };
            html! {
                <Select label={t(&format!("rcp_{key}_user_{i}"))} {options} value={value.map(|v| v.to_string())} {on_change} />
            }
        });
        html! {
            <li class={classes!("rb-recipe", format!("rb-recipe-{key}"))}>
                <button type="button" class="rb-recipe-card" onclick={pick}>
                    <span class="rb-recipe-title">{ t(&format!("rcp_{key}_title")) }</span>
                    <span class="rb-recipe-text">{ t(&format!("rcp_{key}_text")) }</span>
                </button>
                if recipe.users_asked() > 0 {
                    <div class="rb-recipe-choices">{ for user_pickers }</div>
                }
            </li>
        }
    });
    html! {
        <section class="rb-recipes" aria-labelledby="rb-recipes-heading">
            <h2 id="rb-recipes-heading">{ t("rcp_gallery_title") }</h2>
            <p class="rb-hint">{ t("rcp_gallery_hint") }</p>
            <ul class="rb-recipe-list">{ for cards }</ul>
        </section>
    }
}

/// The account's `i`-th active user (or its first), which a user picker of a card starts with.
fn preset_user(schema: &Schema, i: usize) -> Option<i64> {
    let mut active = schema.users.iter().flatten().filter(|u| u.active);
    let first = active.clone().next();
    active.nth(i).or(first).map(|u| u.id)
}
