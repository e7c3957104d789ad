// Package fsutil holds the small file-system helpers every step shares:
// atomic file and directory writes, so nothing half-written is ever left
// where a user or the next step would read it.
package fsutil
