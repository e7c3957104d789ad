// Package process runs the harness's child processes: each in its own
// process group, killed with the test binary, its output appended to a log
// file, stopped with SIGTERM and then SIGKILL.
package process
