package e2e_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ghostgate/ghostgate/internal/clusterconf"
)

// TestKubernetesManifests: the manifests under deploy/kubernetes hang together: every file the
// kustomization lists is there and is a Kubernetes object; the Deployment runs `migrate serve`
// with flags it has; the clusters file in the ConfigMap is one serve accepts (no inline
// password); every secret file the arguments and the clusters file name is a key of the Secret's
// mount. (A cluster to apply them to is not part of the test.)
func TestKubernetesManifests(t *testing.T) {
	dir := filepath.Join("..", "deploy", "kubernetes")
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, filepath.Join(dir, "kustomization.yaml"), &kust)
	require.NotEmpty(t, kust.Resources)
	objects := map[string]map[string]any{}
	for _, r := range kust.Resources {
		f, err := os.Open(filepath.Join(dir, r))
		require.NoError(t, err, "listed in kustomization.yaml")
		dec := yaml.NewDecoder(f)
		for {
			var o map[string]any
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, r)
			require.NotEmpty(t, o["apiVersion"], r)
			kind, _ := o["kind"].(string)
			require.NotEmpty(t, kind, r)
			objects[kind] = o
		}
		_ = f.Close()
	}
	for _, k := range []string{"Deployment", "Service", "Secret", "ConfigMap"} {
		require.Contains(t, objects, k)
	}

	// The Deployment's container: `serve` and flags serve has.
	c := dig(t, objects["Deployment"], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, a.(string))
	}
	require.Equal(t, "serve", args[0])
	help, err := exec.Command(buildMigrate(t), "serve", "--help").CombinedOutput()
	require.NoError(t, err, "%s", help)
	flagName := regexp.MustCompile(`^--([a-z-]+)`)
	files := map[string]string{}
	for _, a := range args[1:] {
		m := flagName.FindStringSubmatch(a)
		require.NotNil(t, m, "argument %q", a)
		require.Contains(t, string(help), "--"+m[1]+" ", "serve has no flag --%s", m[1])
		if strings.HasSuffix(m[1], "-file") {
			_, v, _ := strings.Cut(a, "=")
			files[a] = v
		}
	}
	require.Equal(t, "3", strings.TrimSpace(yamlString(dig(t, objects["Deployment"], "spec", "replicas"))), "N controllers")

	// The clusters file.
	conf, err := clusterconf.Parse([]byte(dig(t, objects["ConfigMap"], "data", "clusters.json").(string)))
	require.NoError(t, err)
	if conf.State != nil && conf.State.PasswordFile != "" {
		files["state"] = conf.State.PasswordFile
	}
	for _, cl := range conf.Clusters {
		if cl.Primary.PasswordFile != "" {
			files[cl.Name] = cl.Primary.PasswordFile
		}
	}
	// Every secret file is a key of the Secret, mounted at /etc/ghostgate/secrets.
	secret := dig(t, objects["Secret"], "stringData").(map[string]any)
	for what, path := range files {
		key, ok := strings.CutPrefix(path, "/etc/ghostgate/secrets/")
		require.True(t, ok, "%s: %s is not below the Secret's mount", what, path)
		require.Contains(t, secret, key, "%s: the Secret has no key %s", what, key)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, v), path)
}

// dig walks nested maps by key.
func dig(t *testing.T, o map[string]any, keys ...string) any {
	t.Helper()
	var v any = o
	for _, k := range keys {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%v: not a map at %s", keys, k)
		v = m[k]
	}
	return v
}

func yamlString(v any) string {
	var b bytes.Buffer
	_ = yaml.NewEncoder(&b).Encode(v)
	return b.String()
}
