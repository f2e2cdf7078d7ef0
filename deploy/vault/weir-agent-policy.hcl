# Policy for Weir agents (data plane): read-only access to gateway definitions.
# Assumes the KV v2 engine is mounted at `secret/` (WEIR_STORE=vault:secret); change the
# prefix if you use another mount. Narrow `+/+` to a fixed org/env to confine an agent.
#
#   vault policy write weir-agent deploy/vault/weir-agent-policy.hcl

# Read gateway bodies (KV v2 data lives under <mount>/data/...).
path "secret/data/weir/+/+/gateways/*" {
  capabilities = ["read"]
}

# List gateway names (KV v2 listings live under <mount>/metadata/...).
path "secret/metadata/weir/+/+/gateways/*" {
  capabilities = ["list"]
}
path "secret/metadata/weir/+/+/gateways" {
  capabilities = ["list"]
}

# [edge] Read the TLS certificates gateways reference (chain + key, KV v2 secrets). The agent
# reads them by name; it never lists or writes them.
path "secret/data/weir/+/+/certificates/*" {
  capabilities = ["read"]
}
