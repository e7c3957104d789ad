// Package kubeconfig turns the admin kubeconfig k0s writes on a node
// (<data-dir>/pki/admin.conf: one cluster, one user, one context, the
// server at localhost) into one for another machine: the server at an
// address that machine reaches, the cluster, context and user named after
// the spec's metadata.name so that several devices' files merge cleanly,
// and writes it with mode 0600, atomically, never over an existing file
// unless told to.
package kubeconfig
