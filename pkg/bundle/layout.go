package bundle

import (
	_ "embed"
	"fmt"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

// Node paths of the promoter and the site script.
const (
	ApplySitePath    = "/usr/local/libexec/edgeimg/apply-site"
	SiteEnvPath      = "/etc/edgeimg/site.env"
	PromoterPath     = "/usr/local/libexec/edgeimg/promote-staged"
	PromoterUnitName = "edgeimg-promote.service"
	PromoterUnitPath = "/etc/systemd/system/" + PromoterUnitName
)

//go:embed promote-staged.sh
var promoterScript []byte

//go:embed apply-site.sh
var applySiteScript []byte

// PromoterScript returns the promoter shell script.
func PromoterScript() []byte { return append([]byte(nil), promoterScript...) }

// Layout says where on the node the bundle goes.
type Layout struct {
	// DataDir is k0s's data dir; stacks go to <DataDir>/manifests.
	DataDir string
	// StagedDir holds the staged stacks; default /var/lib/edgeimg/staged.
	StagedDir string
}

func (l Layout) withDefaults() Layout {
	if l.DataDir == "" {
		l.DataDir = k0spath.DataDir
	}
	if l.StagedDir == "" {
		l.StagedDir = StagedDir
	}
	return l
}

// PromoterUnit renders the systemd unit that runs the promoter after k0s
// on every boot.
func PromoterUnit(l Layout) []byte {
	l = l.withDefaults()
	var env string
	if l.DataDir != k0spath.DataDir {
		env += "Environment=K0S_DATA_DIR=" + l.DataDir + "\n"
	}
	if l.StagedDir != StagedDir {
		env += "Environment=EDGEIMG_STAGED_DIR=" + l.StagedDir + "\n"
	}
	return []byte(`[Unit]
Description=edgeimg: apply staged k0s manifest stacks once their admission webhooks serve
Documentation=https://github.com/edgeimg/edgeimg
After=` + k0spath.UnitName + `
Wants=` + k0spath.UnitName + `

[Service]
Type=exec
` + env + `ExecStart=` + PromoterPath + `
Restart=on-failure
RestartSec=30

[Install]
WantedBy=multi-user.target
`)
}

// Payload lays the bundle out as node files: the live stacks under
// <DataDir>/manifests/<stack>/, the staged stacks with their gates and
// object lists under StagedDir, the promoter script and its unit.
func (b *Bundle) Payload(l Layout) (*payload.Payload, error) {
	l = l.withDefaults()
	p := &payload.Payload{}
	manifests := k0spath.Manifests(l.DataDir)
	for _, s := range b.Stacks {
		for _, f := range s.Files {
			data, err := MarshalObjects(f.Objects)
			if err != nil {
				return nil, fmt.Errorf("stack %s: %w", s.Name, err)
			}
			p.Add(path.Join(manifests, s.Name, f.Name), 0o644, data)
		}
	}
	all := b.allObjects()
	plurals, sc := pluralsOf(all), scopesOf(all)
	for _, s := range b.Staged {
		dir := path.Join(l.StagedDir, s.Name)
		var objects []string
		for _, f := range s.Files {
			data, err := MarshalObjects(f.Objects)
			if err != nil {
				return nil, fmt.Errorf("staged stack %s: %w", s.Name, err)
			}
			p.Add(path.Join(dir, f.Name), 0o644, data)
			for _, o := range f.Objects {
				objects = append(objects, objectLine(o, plurals, sc))
			}
		}
		p.Add(path.Join(dir, "gates"), 0o644, lines(s.Gate))
		p.Add(path.Join(dir, "objects"), 0o644, lines(objects))
	}
	if len(b.Staged) > 0 {
		p.Add(PromoterPath, 0o755, PromoterScript())
		p.Add(PromoterUnitPath, 0o644, PromoterUnit(l))
	}
	if env, ok := b.siteEnv(manifests, l.StagedDir); ok {
		p.Add(SiteEnvPath, 0o644, env)
		p.Add(ApplySitePath, 0o755, append([]byte(nil), applySiteScript...))
	}
	if err := p.Seal(); err != nil {
		return nil, err
	}
	return p, nil
}

// Units lists the systemd units the payload needs enabled.
func (b *Bundle) Units() []string {
	if len(b.Staged) == 0 {
		return nil
	}
	return []string{PromoterUnitName}
}

func lines(ss []string) []byte {
	if len(ss) == 0 {
		return []byte{}
	}
	return []byte(strings.Join(ss, "\n") + "\n")
}

func (b *Bundle) allObjects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range b.Objects() {
		out = append(out, o.Obj)
	}
	return out
}

// objectLine is "resource.group namespace name" for `kubectl get`, with
// "-" for cluster-scoped objects.
func objectLine(o *unstructured.Unstructured, plurals map[schema.GroupKind]string, sc scopes) string {
	gk := o.GroupVersionKind().GroupKind()
	plural, ok := plurals[gk]
	if !ok {
		plural = strings.ToLower(gk.Kind) + "s"
	}
	resource := plural
	if gk.Group != "" {
		resource += "." + gk.Group
	}
	ns := o.GetNamespace()
	if ns == "" || sc.clusterScoped(o) {
		ns = "-"
	}
	return resource + " " + ns + " " + o.GetName()
}

// StackNames lists live and staged stack names, sorted.
func (b *Bundle) StackNames() (live, staged []string) {
	for _, s := range b.Stacks {
		live = append(live, s.Name)
	}
	for _, s := range b.Staged {
		staged = append(staged, s.Name)
	}
	sort.Strings(live)
	sort.Strings(staged)
	return live, staged
}

// siteEnv renders /etc/edgeimg/site.env for apply-site.sh: where the
// address-dependent objects are and the values the image was built with.
func (b *Bundle) siteEnv(manifests, staged string) ([]byte, bool) {
	if b.Site == nil {
		return nil, false
	}
	find := func(stacks []*Stack, dir, kind, name string) string {
		for _, s := range stacks {
			for _, f := range s.Files {
				for _, o := range f.Objects {
					if o.GetKind() == kind && o.GetName() == name {
						return path.Join(dir, s.Name, f.Name)
					}
				}
			}
		}
		return ""
	}
	pool := find(b.Staged, staged, "IPAddressPool", "edgeimg")
	kourier := find(b.Stacks, manifests, "Service", "kourier")
	domain := find(b.Stacks, manifests, "ConfigMap", "config-domain")
	if pool == "" || kourier == "" || domain == "" {
		return nil, false
	}
	fromLB := "0"
	if b.Site.DomainFromLB {
		fromLB = "1"
	}
	return []byte(fmt.Sprintf(`# Written by edgeimg at build time; read by apply-site.
EDGEIMG_SITE_POOL_FILE=%q
EDGEIMG_SITE_KOURIER_FILE=%q
EDGEIMG_SITE_DOMAIN_FILE=%q
EDGEIMG_SITE_LB_ADDRESS=%q
EDGEIMG_SITE_DOMAIN_FROM_LB=%s
EDGEIMG_SITE_ADDRESSES=%q
`, pool, kourier, domain, b.Site.LBAddress, fromLB, strings.Join(b.Site.Addresses, " "))), true
}
