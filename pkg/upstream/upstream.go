package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/edgeimg/edgeimg/pkg/cache"
)

// Projects and the release files edgeimg reads from each.
const (
	KnativeServing = "knative-serving"
	NetKourier     = "net-kourier"
	MetalLB        = "metallb"

	ServingCore   = "serving-core.yaml"
	KourierYAML   = "kourier.yaml"
	MetalLBNative = "metallb-native.yaml"
)

// Release is one pinned release file.
type Release struct {
	Project, Version, Name string
	URL                    string
	SHA256                 string // hex
}

// catalog lists the release files edgeimg knows. Knative Serving's and
// Kourier's released YAML (digest-pinned images) is kept by the Knative
// operator under cmd/operator/kodata; MetalLB's by MetalLB itself. URLs are
// pinned to a commit, so the bytes cannot change under the sha256.
var catalog = []Release{
	{KnativeServing, "1.23.0", "serving-crds.yaml",
		"https://raw.githubusercontent.com/knative/operator/8f004985af79024f25b9e6014da1a4c22bf48182/cmd/operator/kodata/knative-serving/1.23.0/1-serving-crds.yaml",
		"b172ff4901ed50f8e4e09ff8616e54d22e264df7086ce8cb74f513a04812fe74"},
	{KnativeServing, "1.23.0", ServingCore,
		"https://raw.githubusercontent.com/knative/operator/8f004985af79024f25b9e6014da1a4c22bf48182/cmd/operator/kodata/knative-serving/1.23.0/2-serving-core.yaml",
		"be3f16c9c0ac9276cc173ef04871aaeac78537f9edb116310caa02f016e9cbc2"},
	{KnativeServing, "1.23.0", "serving-hpa.yaml",
		"https://raw.githubusercontent.com/knative/operator/8f004985af79024f25b9e6014da1a4c22bf48182/cmd/operator/kodata/knative-serving/1.23.0/3-serving-hpa.yaml",
		"07d412839ff834de8a14903d51175383d8f3f1d682805325840493f165eef53b"},
	{KnativeServing, "1.23.0", "serving-post-install-jobs.yaml",
		"https://raw.githubusercontent.com/knative/operator/8f004985af79024f25b9e6014da1a4c22bf48182/cmd/operator/kodata/knative-serving/1.23.0/4-serving-post-install-jobs.yaml",
		"a105947c57581e5954cfeb017120f78c34ecd437574202a4d17b4cfcf97bd7cc"},
	{NetKourier, "1.23.0", KourierYAML,
		"https://raw.githubusercontent.com/knative/operator/8f004985af79024f25b9e6014da1a4c22bf48182/cmd/operator/kodata/ingress/1.23/kourier/kourier.yaml",
		"cded0c3c1d7669b1aa9f7484234b454ff3940a2b54a27d5ec4825c2d4003d01d"},
	{MetalLB, "v0.15.3", MetalLBNative,
		"https://raw.githubusercontent.com/metallb/metallb/85bfb4f0e0d35090c514e1e5e1a21a8bbd253518/config/manifests/metallb-native.yaml",
		"84b4e102f2b65f5d69085f5816c29362b74641873d8ac3de996e5f86a8219176"},
}

// Catalog returns a copy of the known release files.
func Catalog() []Release { return append([]Release(nil), catalog...) }

// Lookup finds a release file in the catalog.
func Lookup(project, version, name string) (Release, bool) {
	for _, r := range catalog {
		if r.Project == project && r.Version == version && r.Name == name {
			return r, true
		}
	}
	return Release{}, false
}

// Versions lists the catalog's versions of a project.
func Versions(project string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range catalog {
		if r.Project == project && !seen[r.Version] {
			seen[r.Version] = true
			out = append(out, r.Version)
		}
	}
	sort.Strings(out)
	return out
}

// Source reads release files.
type Source struct {
	// Dir, when set, holds release files as <project>/<version>/<name>
	// and nothing is downloaded.
	Dir string
	// Cache downloads catalog files when Dir is empty.
	Cache *cache.Cache
	// releases overrides the catalog (tests).
	releases []Release
}

func (s *Source) lookup(project, version, name string) (Release, bool) {
	if s.releases == nil {
		return Lookup(project, version, name)
	}
	for _, r := range s.releases {
		if r.Project == project && r.Version == version && r.Name == name {
			return r, true
		}
	}
	return Release{}, false
}

// ErrChecksum reports release bytes that differ from the catalog's pin.
var ErrChecksum = cache.ErrChecksum

// Read returns the bytes of one release file.
func (s *Source) Read(ctx context.Context, project, version, name string) ([]byte, error) {
	rel, known := s.lookup(project, version, name)
	if s.Dir != "" {
		path := filepath.Join(s.Dir, project, version, name)
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("upstream %s %s: %s not found: expected the release file %s under %s (<project>/<version>/<file>)", project, version, path, name, s.Dir)
			}
			return nil, fmt.Errorf("upstream %s %s: %w", project, version, err)
		}
		if known {
			if got := sum(data); got != rel.SHA256 {
				return nil, fmt.Errorf("upstream %s: %w: sha256 %s, the catalog pins %s for %s %s", path, ErrChecksum, got, rel.SHA256, project, version)
			}
		}
		return data, nil
	}
	if !known {
		return nil, fmt.Errorf("upstream %s %s: %s is not in the catalog (known versions: %s): pass --upstream DIR with <project>/<version>/%s", project, version, name, strings.Join(Versions(project), ", "), name)
	}
	if s.Cache == nil {
		return nil, fmt.Errorf("upstream %s %s: no cache to download into", project, version)
	}
	path, err := s.Cache.Fetch(ctx, rel.URL, rel.SHA256)
	if err != nil {
		return nil, fmt.Errorf("upstream %s %s %s: %w", project, version, name, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("upstream %s %s %s: %w", project, version, name, err)
	}
	if !bytes.Equal([]byte(sum(data)), []byte(rel.SHA256)) {
		return nil, fmt.Errorf("upstream %s: cached %s: %w", rel.URL, path, ErrChecksum)
	}
	return data, nil
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
