package server

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// Cluster is one primary and its replicas that a controller runs migrations on. A controller
// without a configuration file has one, named "", built from Options.DB, Runner and the rest;
// with `serve --config`, one per configured cluster, all sharing the controller's store (the state
// database), each migration recording the cluster it runs on.
type Cluster struct {
	// Name identifies the cluster in requests (CreateRequest.Cluster), the store and the metrics.
	Name string
	// DB is a pool on the primary: the planner's probe and the gates read through it.
	DB *sql.DB
	// Runner runs the cluster's migrations (its Config.Cluster is Name).
	Runner *runner.Runner
	// Replicas are watched by the gates' replica-lag line.
	Replicas []cutover.Replica
	// DefaultSchema is the database for unqualified table names when a request names none.
	DefaultSchema string
	// MaxConcurrent, when above 0, queues the cluster's migrations (see Options.MaxConcurrent).
	MaxConcurrent int
	// GateMetrics records the gates of the cluster's migrations (nil: Options.GateMetrics).
	GateMetrics *metrics.Gate
}

func (cl Cluster) validate() error {
	of := ""
	if cl.Name != "" {
		of = fmt.Sprintf(" of cluster %q", cl.Name)
	}
	switch {
	case cl.DB == nil:
		return fmt.Errorf("server: nil DB%s", of)
	case cl.Runner == nil:
		return fmt.Errorf("server: nil runner%s", of)
	case cl.MaxConcurrent < 0:
		return fmt.Errorf("server: max concurrent migrations %d%s must not be negative", cl.MaxConcurrent, of)
	}
	return nil
}

// clusters returns the clusters of o: Clusters, or the one its single-cluster fields describe.
func (o Options) clusters() []Cluster {
	if len(o.Clusters) > 0 {
		return o.Clusters
	}
	return []Cluster{{Name: o.Cluster, DB: o.DB, Runner: o.Runner, Replicas: o.Replicas, DefaultSchema: o.DefaultSchema,
		MaxConcurrent: o.MaxConcurrent, GateMetrics: o.GateMetrics}}
}

func (o Options) validateClusters() error {
	cls := o.clusters()
	seen := map[string]bool{}
	var errs []error
	for _, cl := range cls {
		if seen[cl.Name] {
			errs = append(errs, fmt.Errorf("server: cluster %q is given twice", cl.Name))
		}
		seen[cl.Name] = true
		if err := cl.validate(); err != nil {
			errs = append(errs, err)
		}
		if len(cls) > 1 && cl.Name == "" {
			errs = append(errs, errors.New("server: with several clusters, each needs a name"))
		}
	}
	return errors.Join(errs...)
}

// cluster returns the cluster a request names: "" is the first (the only one without a
// configuration file); an unknown name is a *RequestError listing the known ones.
func (c *Controller) cluster(name string) (*Cluster, error) {
	if name == "" {
		return c.clusters[0], nil
	}
	for _, cl := range c.clusters {
		if cl.Name == name {
			return cl, nil
		}
	}
	return nil, badRequest("unknown cluster %q: this controller runs %s", name, c.clusterNames())
}

// clusterOf returns the cluster migration m runs on, if this controller runs that cluster.
func (c *Controller) clusterOf(m store.Migration) (*Cluster, bool) {
	for _, cl := range c.clusters {
		if cl.Name == m.Cluster {
			return cl, true
		}
	}
	return nil, false
}

func (c *Controller) clusterNames() string {
	names := make([]string, len(c.clusters))
	for i, cl := range c.clusters {
		names[i] = fmt.Sprintf("%q", cl.Name)
	}
	return strings.Join(names, ", ")
}

// Clusters lists the names of the clusters this controller runs.
func (c *Controller) Clusters() []string {
	out := make([]string, len(c.clusters))
	for i, cl := range c.clusters {
		out[i] = cl.Name
	}
	return out
}

func (c *Controller) gateMetrics(cl *Cluster) *metrics.Gate {
	if cl != nil && cl.GateMetrics != nil {
		return cl.GateMetrics
	}
	return c.opts.GateMetrics
}
