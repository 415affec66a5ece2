package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux ABI Go runs
// on (sysconf(_SC_CLK_TCK); proc(5)).
const clockTicks = 100

// procTimes is a process's CPU time from /proc/<pid>/stat (proc(5), fields 14-17): its own user +
// system time, and that of its children it has waited for.
type procTimes struct {
	self, children time.Duration
}

func readProcTimes(pid string) (procTimes, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procTimes{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("/proc/%s/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f)+2)
	}
	var t [4]int64
	for k := range t {
		if t[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil { // fields 14..17
			return procTimes{}, fmt.Errorf("/proc/%s/stat field %d: %w", pid, 14+k, err)
		}
	}
	tick := time.Second / clockTicks
	return procTimes{self: time.Duration(t[0]+t[1]) * tick, children: time.Duration(t[2]+t[3]) * tick}, nil
}

// serverPID is the mariadbd process of a server, from its own pid file (the bench runs on the
// same host as the sandbox).
func serverPID(ctx context.Context, db *sql.DB) (string, error) {
	var file string
	if err := db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&file); err != nil {
		return "", err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("server pid file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// cpuSample is the CPU time of every process a run involves at one moment.
type cpuSample struct {
	primary, replica time.Duration // the two mariadbd
	// bench is this process (the load generator, and ghostgate's controller when it runs
	// in-process); children are its waited-for children: pt-online-schema-change, or the gh-ost
	// worker that ghostgate re-executes this binary as.
	bench, children time.Duration
}

// cpuMeter samples the processes of one sandbox pair.
type cpuMeter struct {
	primaryPID, replicaPID string
}

func newCPUMeter(ctx context.Context, primary, replica *sql.DB) (cpuMeter, error) {
	p, err := serverPID(ctx, primary)
	if err != nil {
		return cpuMeter{}, fmt.Errorf("primary: %w", err)
	}
	r, err := serverPID(ctx, replica)
	if err != nil {
		return cpuMeter{}, fmt.Errorf("replica: %w", err)
	}
	return cpuMeter{primaryPID: p, replicaPID: r}, nil
}

func (m cpuMeter) sample() (cpuSample, error) {
	p, err := readProcTimes(m.primaryPID)
	if err != nil {
		return cpuSample{}, err
	}
	r, err := readProcTimes(m.replicaPID)
	if err != nil {
		return cpuSample{}, err
	}
	self, err := readProcTimes("self")
	if err != nil {
		return cpuSample{}, err
	}
	return cpuSample{primary: p.self, replica: r.self, bench: self.self, children: self.children}, nil
}

// sub is the CPU spent between two samples.
func (s cpuSample) sub(o cpuSample) cpuSample {
	return cpuSample{primary: s.primary - o.primary, replica: s.replica - o.replica,
		bench: s.bench - o.bench, children: s.children - o.children}
}

// cpuUse is one run's CPU time by process.
type cpuUse struct {
	primary, replica time.Duration
	tool             time.Duration // pt-online-schema-change, or ghostgate's controller
	worker           time.Duration // ghostgate's gh-ost worker
	load             time.Duration // the foreground workload's process (not counted in total)
}

// total is what the migration cost the machine: both servers, the tool and its worker.
func (c cpuUse) total() time.Duration { return c.primary + c.replica + c.tool + c.worker }

func (c cpuUse) String() string {
	return fmt.Sprintf("primary %.1fs replica %.1fs tool %.1fs worker %.1fs (total %.1fs; load %.1fs)",
		c.primary.Seconds(), c.replica.Seconds(), c.tool.Seconds(), c.worker.Seconds(), c.total().Seconds(), c.load.Seconds())
}

// attribute names the processes of a run of tool key: pt-osc is a child of the bench; ghostgate's
// controller is the bench process itself (its harness costs little next to it) and its gh-ost
// worker a child; COPY runs inside the primary.
func attribute(key string, d cpuSample) cpuUse {
	u := cpuUse{primary: d.primary, replica: d.replica}
	switch {
	case key == "pt-osc":
		u.tool = d.children
	case strings.HasPrefix(key, "ghostgate"): // every ghostgate variant (strategies)
		u.tool, u.worker = d.bench, d.children
	}
	return u
}
