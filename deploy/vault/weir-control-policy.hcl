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

# The same for the other collections the control API and its release controller write:
# release policies, release runs and their history, TLS certificates.
path "secret/data/weir/+/+/release-policies/*" {
  capabilities = ["create", "update", "read"]
}
path "secret/metadata/weir/+/+/release-policies/*" {
  capabilities = ["read", "list", "delete"]
}
path "secret/metadata/weir/+/+/release-policies" {
  capabilities = ["list"]
}
path "secret/data/weir/+/+/releases/*" {
  capabilities = ["create", "update", "read"]
}
path "secret/metadata/weir/+/+/releases/*" {
  capabilities = ["read", "list", "delete"]
}
path "secret/metadata/weir/+/+/releases" {
  capabilities = ["list"]
}
path "secret/data/weir/+/+/release-history/*" {
  capabilities = ["create", "update", "read"]
}
path "secret/metadata/weir/+/+/release-history/*" {
  capabilities = ["read", "list", "delete"]
}
path "secret/metadata/weir/+/+/release-history" {
  capabilities = ["list"]
}
path "secret/data/weir/+/+/certificates/*" {
  capabilities = ["create", "update", "read"]
}
path "secret/metadata/weir/+/+/certificates/*" {
  capabilities = ["read", "list", "delete"]
}
path "secret/metadata/weir/+/+/certificates" {
  capabilities = ["list"]
}

# Leases: which control-API replica runs the release controller (compare-and-set writes).
path "secret/data/weir/_system/leases/*" {
  capabilities = ["create", "update", "read"]
}
path "secret/metadata/weir/_system/leases/*" {
  capabilities = ["read"]
}

# Enumerate namespaces (orgs and envs).
path "secret/metadata/weir/*" {
  capabilities = ["list"]
}
