//! Message templates: the shape of a templated message as a configuration, a notify request
//! or a schedule input writes it ([`MessageSpec`], in `template/message.rs`), and the
//! minijinja environment that compiles and renders them ([`Templates`]).
//!
//! A message is a string (plain text) or a map: `{type: text|markdown|card|image|file|news,
//! title, text, buttons: [{text, url} or {text, action, value, confirm, style}], selects,
//! color, mentions, mention: [..], url, path, key, name, articles}`; every string in it is
//! a minijinja template.
//!
//! Every template runs bounded: [`FUEL`] instructions, [`RECURSION_LIMIT`] levels of nesting,
//! [`MAX_OUTPUT_BYTES`] of output; past any of them the render fails (a permanent error for
//! what it renders) instead of taking the process's memory or time. Values a template
//! inserts (`{{ text }}`, what users wrote) have the platforms' mention markup made inert
//! ([`botgate_core::message::defuse_mentions`]): only the configuration's `mentions` notify.

mod engine;
mod message;

pub use engine::{FUEL, MAX_OUTPUT_BYTES, RECURSION_LIMIT, RenderError, TemplateId, Templates, context};
pub use message::{ArticleSpec, CompiledMessage, MessageKind, MessageSpec, Slot};

#[cfg(test)]
mod tests {
    use super::*;
    use botgate_core::message::Message;

    #[test]
    fn runaway_templates_stop_at_their_bounds() {
        let started = std::time::Instant::now();
        let ctx = context(serde_json::json!({}));
        // 10^10 iterations: stopped by the fuel.
        let loops =
            MessageSpec::text("{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}");
        let e = Templates::render_once(&loops, "loops", &ctx).unwrap_err();
        assert!(e.why.contains("fuel"), "{e}");
        // 2 MB of output in a few tens of thousands of instructions: stopped by the output cap.
        let big = MessageSpec::text(format!(
            "{{% for i in range(20000) %}}{}{{% endfor %}}",
            "x".repeat(100)
        ));
        let e = Templates::render_once(&big, "big", &ctx).unwrap_err();
        assert!(e.why.contains("bytes"), "{e}");
        // A 100 MB string in one expression is refused too.
        assert!(Templates::render_once(&MessageSpec::text("{{ 'x' * 100000000 }}"), "rep", &ctx).is_err());
        let deep = MessageSpec::text("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}");
        assert!(Templates::render_once(&deep, "deep", &ctx).is_err());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn inserted_values_cannot_mention_anyone() {
        let spec = MessageSpec::text("You said: {{ text }}");
        let ctx = context(serde_json::json!({"text": "<at user_id=\"all\"></at> <@all>"}));
        let Message::Text { text, .. } = Templates::render_once(&spec, "t", &ctx).unwrap() else {
            panic!("not text")
        };
        assert!(!text.contains("<at") && !text.contains("<@"), "{text}");
        // Markup written in the template itself is the configuration's choice and stays.
        let own = MessageSpec::text("<at user_id=\"all\"></at> {{ text }}");
        let Message::Text { text, .. } = Templates::render_once(&own, "t", &ctx).unwrap() else {
            panic!("not text")
        };
        assert!(text.starts_with("<at user_id=\"all\"></at>"), "{text}");
    }
}
