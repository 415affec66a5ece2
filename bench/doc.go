// Package bench holds the side-by-side benchmark of online ALTER strategies that `make bench` runs
// (see BENCHMARKS.md): a native ALGORITHM=COPY ALTER (the blocking lower bound),
// pt-online-schema-change, and gh-ost through ghostgate's engine, each on a freshly seeded table of
// a million rows under the same fixed-rate foreground workload from internal/loadgen, against a
// no-migration baseline measured in the same run; and the cut-over benchmark, many real gh-ost
// cut-overs of a small table timed from the permit to the verified rename.
package bench
