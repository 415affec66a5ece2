package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/version"
	"github.com/ghostgate/ghostgate/migration"
)

// scrape returns the /metrics text of a controller.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b)
}

var (
	familyName = regexp.MustCompile(`(?m)^# TYPE (ghostgate_\w+) (\w+)`)
	usedName   = regexp.MustCompile(`ghostgate_[a-z_]+`)
)

// TestObservability (issue 13) runs a gh-ost migration through `migrate serve` with a manual
// pause, the gate and an approval, and checks: what serve logs (JSON lines, log/slog), the gate
// and build metrics of a real /metrics, the pause counted as reason "manual", and that every
// metric the shipped Grafana dashboard and alert rules use exists in that /metrics.
func TestObservability(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	t.Setenv(EnvToken, "cli-test-token-0123456789")
	t.Setenv(EnvParticipantSecret, "cli-test-participant-secret-0123456789")
	d.Exec(t, "CREATE TABLE other (id INT PRIMARY KEY)", "CREATE TABLE _other_gho LIKE other") // a dead run's
	url, log := serveCLILog(t, conn, d.Env.Replica.Addr(), "--log-format", "json")

	r := run(t, "", "submit", "--server", url, "-d", d.Name, "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	id, _, _ := strings.Cut(r.stdout, "\t")

	// At the gate, waiting for approval.
	gate := `ghostgate_gate_condition_ok{condition="approval",schema="` + d.Name + `",table="orders"} 0`
	var atGate string
	require.Eventually(t, func() bool {
		atGate = scrape(t, url)
		return strings.Contains(atGate, gate) && strings.Contains(atGate, `ghostgate_checksum_rows{schema="`+d.Name+`",table="orders"} 200`)
	}, 90*time.Second, 200*time.Millisecond, "the gate's conditions and checksum progress are metrics")
	require.Contains(t, atGate, `ghostgate_gate_waiting{schema="`+d.Name+`",table="orders"} 1`)
	require.Contains(t, atGate, `ghostgate_build_info{goversion="`+version.Get().GoVersion+`",`)
	require.Contains(t, atGate, `version="`+version.Get().Version+`"} 1`)
	require.Contains(t, atGate, `ghostgate_participants{state="live"} 0`)

	// Paused at the gate (gh-ost stops applying too): counted as reason "manual".
	r = run(t, "", "pause", "--server", url, id)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	manual := `ghostgate_throttle_events_total{reason="manual",schema="` + d.Name + `",strategy="ghost",table="orders"} 1`
	require.Eventually(t, func() bool { return strings.Contains(scrape(t, url), manual) }, 30*time.Second, 200*time.Millisecond,
		"a manual pause is its own reason")
	r = run(t, "", "resume", "--server", url, id)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)

	r = run(t, "", "approve", "--server", url, id)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	r = run(t, "", "status", "--server", url, "--watch", "--interval", "200ms", id)
	require.Equal(t, ExitOK, r.code, r.stdout+r.stderr)
	after := scrape(t, url)
	require.NotContains(t, after, `ghostgate_gate_waiting{schema="`+d.Name+`"`, "an ended gate's live series are gone")
	require.Contains(t, after, `ghostgate_cutover_attempts_total{result="ok",schema="`+d.Name+`"`)

	// promtool's lint of the exposition (names, units, help), as Prometheus users run it.
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is missing: scripts/tools.sh installs it (Debian's prometheus package)")
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(atGate)
	out, err := check.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", out)

	// Every metric the dashboard and the alerts use is one serve exports.
	exported := map[string]string{}
	for _, text := range []string{atGate, after} {
		for _, m := range familyName.FindAllStringSubmatch(text, -1) {
			exported[m[1]] = m[2]
		}
	}
	for _, f := range []string{"../../deploy/grafana/ghostgate.json", "../../deploy/prometheus/ghostgate-alerts.yml"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		used := usedName.FindAllString(string(b), -1)
		require.NotEmpty(t, used, f)
		for _, name := range used {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if s, ok := strings.CutSuffix(name, suffix); ok && exported[s] == "histogram" {
					base = s
				}
			}
			require.Contains(t, exported, base, "%s uses %s, which /metrics does not export", f, name)
		}
	}

	// The log: one JSON object a line, naming what happened.
	var msgs []string
	leftover := false
	sc := bufio.NewScanner(strings.NewReader(log.String()))
	for sc.Scan() {
		var line map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), "every line of the log is JSON: %s", sc.Text())
		require.Contains(t, line, "level")
		if line["migration"] == id {
			msgs = append(msgs, line["msg"].(string))
		}
		if line["cleanup"] == "migrate cleanup --schema "+d.Name+" --table _other_gho" {
			leftover = true
		}
	}
	require.True(t, leftover, "the leftover of a dead run is logged with its cleanup command")
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"migration " + string(migration.StatusRunning), "throttled", "paused by ",
		"resumed by ", "gate closed: waiting for", "cut-over approved by", "gate open", "migration " + string(migration.StatusComplete)} {
		require.Contains(t, joined, want, "serve logs it")
	}
}

func TestNewLogger(t *testing.T) {
	var b strings.Builder
	l, err := newLogger(&b, "json", "warn")
	require.NoError(t, err)
	l.Info("not shown")
	l.Warn("shown", "k", 1)
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &line), b.String())
	require.Equal(t, "shown", line["msg"])
	b.Reset()
	l, err = newLogger(&b, "text", "info")
	require.NoError(t, err)
	l.Info("hello", "k", "v")
	require.Contains(t, b.String(), "level=INFO msg=hello k=v")
	for _, bad := range [][2]string{{"xml", "info"}, {"text", "loud"}} {
		_, err := newLogger(&b, bad[0], bad[1])
		var u *UsageError
		require.ErrorAs(t, err, &u, "%v is a usage error", bad)
	}
}
