// Package version says which build of ghostgate is running, for `migrate version`, /healthz and
// the ghostgate_build_info metric (issue 13). The version comes from the -ldflags override
//
//	go build -ldflags "-X github.com/ghostgate/ghostgate/internal/version.override=v1.2.3" ./cmd/migrate
//
// and otherwise from the build information the Go toolchain embeds (runtime/debug.ReadBuildInfo):
// the module version when built with `go install …@version`, else the VCS revision, marked
// "+dirty" when the tree had changes.
package version

import (
	"runtime"
	"runtime/debug"
)

// override is set by -ldflags -X at build time; empty otherwise. It is not mutated at run time.
var override string

// Info describes the running build.
type Info struct {
	Version   string `json:"version"`              // a release version, a VCS revision, or "devel"
	Revision  string `json:"revision,omitempty"`   // the VCS revision, when the toolchain recorded it
	Time      string `json:"build_time,omitempty"` // the revision's commit time (RFC 3339)
	Modified  bool   `json:"modified,omitempty"`   // the tree had uncommitted changes
	GoVersion string `json:"go_version"`
}

// Get returns the running build's Info.
func Get() Info { return from(override, debug.ReadBuildInfo) }

// from builds an Info from an override and a build-info reader (injected for tests).
func from(ldflags string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: "devel", GoVersion: runtime.Version()}
	bi, ok := read()
	if ok {
		info.GoVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
		switch {
		case bi.Main.Version != "" && bi.Main.Version != "(devel)":
			info.Version = bi.Main.Version
		case info.Revision != "":
			info.Version = short(info.Revision)
			if info.Modified {
				info.Version += "+dirty"
			}
		}
	}
	if ldflags != "" {
		info.Version = ldflags
	}
	return info
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// String is the one line `migrate version` prints: "ghostgate v1.2.3 (rev 0123456789ab, go1.24.1)".
func (i Info) String() string {
	s := "ghostgate " + i.Version
	if i.Revision != "" && short(i.Revision) != i.Version && short(i.Revision)+"+dirty" != i.Version {
		s += " (rev " + short(i.Revision) + ", " + i.GoVersion + ")"
	} else {
		s += " (" + i.GoVersion + ")"
	}
	return s
}
