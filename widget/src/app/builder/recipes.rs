//! The recipe gallery "New rule" opens.

use domain::rule::Rule;
use yew::prelude::*;

/// Props of [`RecipeGallery`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct RecipeGalleryProps {
    /// Called with the rule to open in the builder (a recipe, or the blank rule).
    pub on_pick: Callback<Rule>,
}

/// The gallery.
#[function_component(RecipeGallery)]
pub fn recipe_gallery(props: &RecipeGalleryProps) -> Html {
    let pick = {
        let cb = props.on_pick.clone();
        Callback::from(move |_| cb.emit(crate::editor::kinds::new_rule()))
    };
    html! { <button type="button" class="button-input" onclick={pick}>{ "Blank rule" }</button> }
}
