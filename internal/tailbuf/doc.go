// Package tailbuf keeps the end of a command's output, for the error
// message when the command fails.
package tailbuf
