// Package server is the Fieldforms sync server: the HTTPS API of sync/wire over one
// store replica per tenant, the registry of tenants and devices, device credentials,
// and the local admin socket through which the fieldformsd commands reach a running
// server.
//
// # Identity and data
//
// A server keeps two folders apart. The config folder is its identity, kept safe like
// any secret: the TLS certificate and key (tls/cert.pem, tls/key.pem; a self-signed
// ECDSA P-256 certificate is made on first start when none is given), one signing key
// per tenant (keys/<tenant>.key, 32 random bytes) and the revocation list
// (revoked.json). The data folder holds what can be rebuilt: the registry
// (registry.db: tenants, devices with the hash of their credential, one-time enrolment
// secrets) and one store replica per tenant (tenants/<tenant>/).
//
// A device credential is signed with its tenant's key, so a server whose data folder
// was lost, started again with the same config, still recognises every enrolled,
// unrevoked device and registers it again on its first call. The tenant's store starts
// empty with a new epoch, which tells the devices to reconcile and push back what it
// lacks.
//
// # Tenants
//
// The tenant of a call comes only from its verified credential; nothing a client
// sends names a tenant. Each tenant's records live in their own bbolt file. A tenant's
// epoch (a random 128-bit value in the store's state, key "epoch") is made when its
// store is created empty, and the server's ledger for each device (the highest change
// sequence it holds from it, key "ledger/<device>") lives in the same file, so
// restoring the file rolls both back together.
//
// # Admin
//
// bbolt locks its files, so while a server runs, admin commands go through its admin
// socket (admin.sock in the data folder, mode 0600): one JSON request and one JSON
// answer per connection. When no server runs, the same operations open the files
// directly (see [Admin]).
//
// # Caveats
//
//   - One server per data folder: the registry is opened with a timeout and a second
//     server fails with a clear error instead of waiting.
//   - Revocation is by device and time: credentials of a device issued up to the
//     moment it was revoked are refused; enrolling the device again issues a new one.
//   - The pinned certificate fingerprint of enrolment codes is the leaf's: replacing
//     the certificate means enrolling the devices again unless it is CA-signed.
package server
