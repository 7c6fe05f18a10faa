#!/usr/bin/env bash
# `sam validate --lint` on template.yaml once per EgressMode (none, existing-subnets with
# example ids, new-vpc), and once with the options off by default turned on (a custom
# domain, X-Ray, a reserved concurrency, an existing alarm topic), each as the parameters'
# defaults, so cfn-lint checks every shape a team can deploy; then prints how many
# resources each shape declares.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for mode in none existing-subnets new-vpc options-on; do
  python3 - "$mode" "$tmp/template-$mode.yaml" <<'PY'
import re, sys
mode, out = sys.argv[1], sys.argv[2]
t = open("template.yaml").read()
def default(t, name, value):
    pat = re.compile(r"(\n  %s:\n(?:    .*\n)*?    Default: )[^\n]*" % re.escape(name))
    assert pat.search(t), name
    return pat.sub(lambda m: m.group(1) + value, t, count=1)
if mode == "options-on":
    t = default(t, "DomainName", "bot.example.com")
    t = default(t, "CertificateArn", "arn:aws:acm:us-east-1:123456789012:certificate/0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7")
    t = default(t, "TracingMode", "Active")
    t = default(t, "CallbackReservedConcurrency", "50")
    t = default(t, "AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:ops-alarms")
    t = default(t, "AlarmEmail", "oncall@example.com")
    t = default(t, "AlarmChatTarget", "ops-dingtalk")
else:
    t = default(t, "EgressMode", mode)
if mode == "existing-subnets":
    t = default(t, "EgressSubnetIds", "subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788")
    t = default(t, "EgressSecurityGroupIds", "sg-0123456789abcdef0")
open(out, "w").write(t)
PY
  sam validate --lint --region us-east-1 -t "$tmp/template-$mode.yaml" >/dev/null
  echo "template: $mode valid (sam validate --lint)"
done
python3 - <<'PY'
import re, collections
t = open("template.yaml").read()
body = t.split("\nResources:\n", 1)[1].split("\nOutputs:\n", 1)[0]
blocks = [b for b in re.split(r"^  (?=[A-Za-z0-9]+:\n)", body, flags=re.M) if re.match(r"[A-Za-z0-9]+:\n", b)]
conditional = collections.Counter(m.group(1) for b in blocks if (m := re.search(r"\n    Condition: (\w+)\n", b)))
always = len(blocks) - sum(conditional.values())
print(f"template: {always} resources always, and " + ", ".join(f"{n} with {c}" for c, n in sorted(conditional.items())))
PY
