# Policy for the Weir control API: manage gateway definitions.
# Assumes the KV v2 engine is mounted at `secret/` (WEIR_STORE=vault:secret).
#
#   vault policy write weir-control deploy/vault/weir-control-policy.hcl

# Create (check-and-set, cas=0), update (cas=N) and read gateway bodies.
path "secret/data/weir/+/+/gateways/*" {
  capabilities = ["create", "update", "read"]
}

# List gateways, read their metadata (versions, for conditional deletes) and delete them:
# Weir deletes with DELETE <mount>/metadata/... which removes all versions.
path "secret/metadata/weir/+/+/gateways/*" {
  capabilities = ["read", "list", "delete"]
}
path "secret/metadata/weir/+/+/gateways" {
  capabilities = ["list"]
}

# Enumerate namespaces (orgs and envs).
path "secret/metadata/weir/*" {
  capabilities = ["list"]
}
