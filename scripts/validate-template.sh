#!/usr/bin/env bash
# `sam validate --lint` on template.yaml once per EgressMode (none, existing-subnets with
# example ids, new-vpc), each as the parameters' defaults, so cfn-lint checks every shape a
# team can deploy; then prints how many resources each shape declares.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for mode in none existing-subnets new-vpc; do
  python3 - "$mode" "$tmp/template-$mode.yaml" <<'PY'
import re, sys
mode, out = sys.argv[1], sys.argv[2]
t = open("template.yaml").read()
def default(t, name, value):
    pat = re.compile(r"(\n  %s:\n(?:    .*\n)*?    Default: )[^\n]*" % re.escape(name))
    assert pat.search(t), name
    return pat.sub(lambda m: m.group(1) + value, t, count=1)
t = default(t, "EgressMode", mode)
if mode == "existing-subnets":
    t = default(t, "EgressSubnetIds", "subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788")
    t = default(t, "EgressSecurityGroupIds", "sg-0123456789abcdef0")
open(out, "w").write(t)
PY
  sam validate --lint --region us-east-1 -t "$tmp/template-$mode.yaml" >/dev/null
  echo "template: EgressMode=$mode valid (sam validate --lint)"
done
python3 - <<'PY'
import re
t = open("template.yaml").read()
body = t.split("\nResources:\n", 1)[1].split("\nOutputs:\n", 1)[0]
names = re.findall(r"^  ([A-Za-z0-9]+):\n", body, re.M)
blocks = re.split(r"^  (?=[A-Za-z0-9]+:\n)", body, flags=re.M)
vpc = sum(1 for b in blocks if "\n    Condition: CreateVpc\n" in b)
print(f"template: {len(names) - vpc} resources with EgressMode none or existing-subnets, {len(names)} with new-vpc ({vpc} for the VPC, NAT gateway and Elastic IP)")
PY
