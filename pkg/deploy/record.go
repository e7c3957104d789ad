package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// record is what deploy leaves on the host (RecordPath): the files it
// uploaded, the directories it created, and how it installed k0s. The next
// deploy removes files that left the payload (a removed stack is pruned by
// k0s); --reset removes everything listed.
type record struct {
	Version     int          `json:"version"`
	Time        time.Time    `json:"time"`
	K0sVersion  string       `json:"k0sVersion,omitempty"`
	InstallArgs []string     `json:"installArgs,omitempty"`
	Units       []string     `json:"units,omitempty"`
	Files       []recordFile `json:"files"`
	// CreatedDirs are directories that did not exist before deploy.
	CreatedDirs []string `json:"createdDirs,omitempty"`
	// Links are the symbolic links deploy created (not those the host
	// had already).
	Links []string `json:"links,omitempty"`
}

type recordFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

const recordVersion = 1

func readRecord(ctx context.Context, r *remote) (*record, error) {
	out, err := r.run(ctx, `if [ -f "$1" ]; then cat -- "$1"; fi`, []string{r.path(RecordPath)}, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", RecordPath, err)
	}
	if strings.TrimSpace(out) == "" {
		return nil, nil
	}
	var rec record
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		return nil, fmt.Errorf("read %s: %w", RecordPath, err)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("read %s: version %d, expected %d", RecordPath, rec.Version, recordVersion)
	}
	return &rec, nil
}

// writeRecordScript writes stdin to $1 atomically.
const writeRecordScript = `set -e
mkdir -p -- "$(dirname -- "$1")"
cat > "$1.tmp"
mv -f -- "$1.tmp" "$1"
`

func writeRecord(ctx context.Context, r *remote, rec *record) error {
	rec.Version = recordVersion
	rec.Time = time.Now().UTC().Truncate(time.Second)
	sort.Strings(rec.CreatedDirs)
	rec.Links = slices.Compact(slices.Sorted(slices.Values(rec.Links)))
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", RecordPath, err)
	}
	if _, err := r.run(ctx, writeRecordScript, []string{r.path(RecordPath)}, strings.NewReader(string(data)+"\n")); err != nil {
		return fmt.Errorf("write %s: %w", RecordPath, err)
	}
	return nil
}
