//! The callback with a synchronous answer against the same callback without one, per
//! platform that answers in the response: a WeChat and a WeCom text message with an echo
//! rule (`reply_via: passive`, so the reply is rendered, sealed in safe mode and stored with
//! the claim; against `reply_via: api`, which queues the same event and answers `success`),
//! and a Feishu card press (a rule's `answer` with a toast and a card; against a press no
//! rule answers, given the bot's static `card_answer`). Both sides verify, decrypt, claim
//! and enqueue in memory; the difference is what answering costs. Every iteration is a new
//! signed event, made outside the timed part.
//!
//! Run: `cargo bench -p botgate --bench answer`.

use std::hint::black_box;
use std::sync::Arc;

use botgate::callback;
use botgate::clock::SystemClock;
use botgate::config::EnvResolver;
use botgate::inbound::SampleKind;
use botgate::metrics::Discard;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// The example's demo credentials with an echo rule and an approval rule.
fn config(reply_via: &str) -> String {
    format!(
        r#"
rules:
  - name: approve
    when: {{kind: card_action, action: {{name: approve}}}}
    actions:
      - answer:
          toast: {{type: success, text: "Deploying {{{{ action.value.service }}}}"}}
          card: {{type: card, title: "Deploy {{{{ action.value.service }}}}: approved", text: "Approved by {{{{ sender }}}}", color: green}}
      - forward: {{url: "https://ci.example.com/deploy", secret: s3cret}}
  - name: echo
    when: {{kind: message}}
    reply: "You said: {{{{ text }}}}"
bots:
  feishu-demo:
    platform: feishu
    app_id: cli_0rleupfgfeytvez0
    encrypt_key: rDji55Ze4EWn5Qx3IEtmx7P247HTuUAG
    verification_token: 6ENTbiudpnZOI68F2oRySblch8SriNub
    card_answer: {{toast: {{type: info, content: Received}}}}
  wechat-demo:
    platform: wechat
    token: O5QTEoyU8tkexJEx
    encoding_aes_key: r+1O7blkcvjPEkajJ5S5OZax2iLZ14cCbACnCFJPLG0
    app_id: wx1m3vrk1npimbdk01
    reply_via: {reply_via}
  wecom-demo:
    platform: wecom
    token: mVJDxezmi6Y8Hv3M
    encoding_aes_key: EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE
    corp_id: wwq069yjbtrm6edv7w
    reply_via: {reply_via}
"#
    )
}

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return;
    };
    let load = |reply_via: &str| {
        rt.block_on(botgate::deps::load_yaml(&config(reply_via), &EnvResolver))
            .ok()
            .map(|c| botgate::deps::in_memory(c, Arc::new(SystemClock), Arc::new(Discard)))
    };
    let (Some((answering, answering_memory)), Some((plain, plain_memory))) = (load("passive"), load("api")) else {
        return;
    };
    let mut group = c.benchmark_group("answer");
    // (name, bot, sample, text, the press another rule does not answer)
    let cases = [
        (
            "wechat passive reply",
            "wechat-demo",
            SampleKind::Message,
            "hello world",
        ),
        ("wecom passive reply", "wecom-demo", SampleKind::Message, "hello world"),
        (
            "feishu card answer",
            "feishu-demo",
            SampleKind::CardAction,
            r#"{"name":"approve","service":"api"}"#,
        ),
    ];
    for (name, bot, kind, text) in cases {
        // Without an answer: WeChat and WeCom through `reply_via: api`; Feishu a press no
        // rule answers (its name matches none).
        let (without, without_text) = if kind == SampleKind::CardAction {
            (&answering, r#"{"name":"other","service":"api"}"#)
        } else {
            (&plain, text)
        };
        for (label, deps, text) in [("with", &answering, text), ("without", without, without_text)] {
            let creds = deps.config.bots[bot].credentials.clone();
            let platform = creds.platform();
            let route = format!("/{platform}/{bot}");
            let queues = [answering_memory.queue.clone(), plain_memory.queue.clone()];
            group.bench_function(format!("{name} {label}"), |b| {
                b.to_async(&rt).iter_batched(
                    || {
                        for q in &queues {
                            q.drain();
                        }
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs() as i64)
                            .unwrap_or(0);
                        creds.sample_request(kind, text, now).unwrap_or_default()
                    },
                    |req| {
                        let route = &route;
                        async move {
                            let r = callback::handle(deps, route, &req.as_request(), "bench").await;
                            assert_eq!(r.status, 200);
                            black_box(r)
                        }
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
