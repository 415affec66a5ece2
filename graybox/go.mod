module github.com/ghostgate/ghostgate/graybox

// The library services import, a module of its own so that a service's build pulls neither
// ghostgate's controller nor its dependencies (gh-ost, the TiDB parser, Prometheus, …): it
// depends on the standard library only, tests included. Issue 10; etcd's client/v3 pattern.
go 1.22

// graybox must never import the controller: this makes such an import fail loudly.
replace github.com/ghostgate/ghostgate => ./FORBIDDEN_DEPENDENCY
