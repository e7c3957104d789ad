package kubeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// DefaultPort is the Kubernetes API port of a k0s controller, used when
// the node's kubeconfig names none.
const DefaultPort = 6443

// config is the part of a kubeconfig (clientcmd's v1 Config) this package
// changes; every other field is kept as it is.
type config struct {
	APIVersion     string         `yaml:"apiVersion"`
	Kind           string         `yaml:"kind"`
	Clusters       []named        `yaml:"clusters"`
	Contexts       []named        `yaml:"contexts"`
	CurrentContext string         `yaml:"current-context"`
	Users          []named        `yaml:"users"`
	Rest           map[string]any `yaml:",inline"`
}

// named is a clusters, contexts or users entry: a name and one body.
type named struct {
	Name    string         `yaml:"name"`
	Cluster map[string]any `yaml:"cluster,omitempty"`
	Context map[string]any `yaml:"context,omitempty"`
	User    map[string]any `yaml:"user,omitempty"`
}

// Options say how Rewrite changes a node's admin kubeconfig.
type Options struct {
	// Name names the cluster, the context and the user (metadata.name).
	Name string
	// Address is the address the node was reached at (IPv4, IPv6 or a
	// name); the server becomes https://Address:<the file's port>.
	Address string
	// Server, when set, is the server URL instead (https://host:port).
	Server string
}

// Rewrite returns the node's admin kubeconfig data with its server, and
// its cluster, context and user names, set from o. The file must have
// exactly one cluster, one context and one user, as k0s writes it.
func Rewrite(data []byte, o Options) ([]byte, error) {
	if o.Name == "" {
		return nil, errors.New("kubeconfig: no name for the cluster, context and user")
	}
	var c config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("the node's kubeconfig: %w", err)
	}
	if c.Kind != "Config" {
		return nil, fmt.Errorf("the node's kubeconfig: kind %q, expected Config", c.Kind)
	}
	if len(c.Clusters) != 1 || len(c.Contexts) != 1 || len(c.Users) != 1 {
		return nil, fmt.Errorf("the node's kubeconfig: %d clusters, %d contexts, %d users; expected one of each (k0s's admin.conf)", len(c.Clusters), len(c.Contexts), len(c.Users))
	}
	cl, ctx := c.Clusters[0].Cluster, c.Contexts[0].Context
	if cl == nil || ctx == nil || c.Users[0].User == nil {
		return nil, errors.New("the node's kubeconfig: a cluster, context or user entry without its body")
	}
	old, _ := cl["server"].(string)
	server, err := serverURL(old, o)
	if err != nil {
		return nil, err
	}
	cl["server"] = server
	c.Clusters[0].Name, c.Users[0].Name, c.Contexts[0].Name = o.Name, o.Name, o.Name
	ctx["cluster"], ctx["user"] = o.Name, o.Name
	c.CurrentContext = o.Name
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return b.Bytes(), nil
}

// serverURL is o.Server when set (checked), else https://o.Address with
// the port of the node's server URL old (DefaultPort when it has none).
func serverURL(old string, o Options) (string, error) {
	if o.Server != "" {
		u, err := url.Parse(o.Server)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "", fmt.Errorf("--server %q: expected https://HOST[:PORT]", o.Server)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return "", fmt.Errorf("--server %q: port %q: expected 1-65535", o.Server, p)
			}
		}
		return "https://" + u.Host, nil
	}
	if o.Address == "" {
		return "", errors.New("kubeconfig: no address for the server")
	}
	port := strconv.Itoa(DefaultPort)
	if old != "" {
		u, err := url.Parse(old)
		if err != nil {
			return "", fmt.Errorf("the node's kubeconfig: server %q: %w", old, err)
		}
		if p := u.Port(); p != "" {
			port = p
		}
	}
	return "https://" + net.JoinHostPort(o.Address, port), nil
}

// WriteFile writes data to path with mode 0600: to a temporary file in
// the same directory first, then linked (or, with force, renamed) into
// place, so a reader never sees half a file. An existing path is never
// replaced without force.
func WriteFile(path string, data []byte, force bool) error {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s exists; pass --force to replace it", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// CreateTemp makes the file 0600 already; Chmod holds whatever the
	// umask did to that.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if force {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	} else if err := os.Link(tmp, path); err != nil {
		// Link fails rather than replace a file created since the check.
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; pass --force to replace it", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
