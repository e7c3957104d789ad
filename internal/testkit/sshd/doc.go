// Package sshd runs a real OpenSSH server (Debian's openssh-server) for one
// test on a loopback port, with throwaway host keys and one authorized
// client key.
package sshd
