package deploy

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary prints one line per host: result, files, bytes sent, time.
func WriteSummary(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tRESULT\tFILES SENT/RESUMED/UNCHANGED\tSENT\tTIME")
	for _, r := range results {
		result := "ok"
		switch {
		case r.Err != nil:
			result = "FAILED: " + summarizeErr(r)
		case r.DryRun:
			result = "ok (dry run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d/%d\t%s\t%s\n", r.Host, result, r.FilesSent, r.FilesResumed, r.FilesUnchanged, size(r.BytesSent), r.Duration.Round(100*time.Millisecond))
	}
	return tw.Flush()
}

// summarizeErr is the first line of a host's error without the host prefix.
func summarizeErr(r Result) string {
	msg := strings.TrimPrefix(r.Err.Error(), r.Host.String()+": ")
	msg = firstLine(msg)
	if len(msg) > 120 {
		msg = msg[:117] + "..."
	}
	return msg
}
