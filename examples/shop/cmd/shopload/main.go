// Command shopload drives the example shop service with a steady read/write load until it is
// stopped (SIGINT/SIGTERM or --duration), then prints what it saw: requests served, failed and
// shed (429), latency, and, with --dsn, whether every row it wrote is in the table as it left it.
//
//	shopload --target http://127.0.0.1:8081 --target http://127.0.0.1:8082 --rate 100 \
//	         --dsn 'user:pw@tcp(127.0.0.1:13306)/shop' --summary summary.json
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/loadclient"
)

// Summary is what shopload prints (and writes to --summary as JSON).
type Summary struct {
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
	Shed     int     `json:"shed"`
	P99Ms    float64 `json:"p99_ms"`
	Seconds  float64 `json:"seconds"`
	Verified *bool   `json:"verified,omitempty"` // nil without --dsn
	Problems string  `json:"problems,omitempty"`
}

type targets []string

func (t *targets) String() string     { return strings.Join(*t, ",") }
func (t *targets) Set(s string) error { *t = append(*t, s); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	var tg targets
	rate := flag.Float64("rate", 50, "requests per second over all workers")
	duration := flag.Duration("duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	dsn := flag.String("dsn", "", "MySQL DSN of the service's database: verify every row after stopping")
	summary := flag.String("summary", "", "also write the summary as JSON to this file")
	idBase := flag.Int64("id-base", 0, "first order id to create (0: above the table's highest id with --dsn, else 1000000)")
	flag.Var(&tg, "target", "base URL of a service instance (repeatable)")
	flag.Parse()
	if len(tg) == 0 {
		fmt.Fprintln(os.Stderr, "shopload: at least one --target is needed")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if *idBase == 0 && *dsn != "" {
		// Above whatever the table holds, so that no seed size collides (issue 13).
		base, err := highestID(*dsn)
		if err != nil {
			fmt.Fprintln(os.Stderr, "shopload:", err)
			return 1
		}
		*idBase = base
	}
	c, err := loadclient.New(loadclient.Config{Targets: tg, Rate: *rate, Timeout: 30 * time.Second, IDBase: *idBase})
	if err != nil {
		fmt.Fprintln(os.Stderr, "shopload:", err)
		return 2
	}
	if err := c.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "shopload:", err)
		return 1
	}
	<-ctx.Done()
	res := c.Stop()
	s := Summary{Requests: res.Requests, Failed: res.Failures(), Shed: res.Shed(),
		P99Ms: float64(res.Latency.P99) / float64(time.Millisecond), Seconds: res.Elapsed.Seconds()}
	if *dsn != "" {
		ok, problems, err := verify(*dsn, res.Model)
		if err != nil {
			fmt.Fprintln(os.Stderr, "shopload: verify:", err)
			return 1
		}
		s.Verified, s.Problems = &ok, problems
	}
	fmt.Printf("shopload: %d requests in %.1fs: %d failed, %d shed (429), p99 %.1f ms", s.Requests, s.Seconds, s.Failed, s.Shed, s.P99Ms)
	if s.Verified != nil {
		fmt.Printf("; rows verified: %v", *s.Verified)
	}
	fmt.Println()
	if s.Problems != "" {
		fmt.Println(s.Problems)
	}
	if *summary != "" {
		b, _ := json.Marshal(s)
		if err := os.WriteFile(*summary, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "shopload:", err)
			return 1
		}
	}
	if s.Failed > 0 || (s.Verified != nil && !*s.Verified) {
		return 1
	}
	return 0
}

// highestID is loadclient.IDBaseAbove for the orders table of the DSN's database.
func highestID(dsn string) (int64, error) {
	db, schema, err := openDSN(dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return loadclient.IDBaseAbove(context.Background(), db, schema, shop.Table)
}

// openDSN opens dsn and returns the database it names.
func openDSN(dsn string) (*sql.DB, string, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return nil, "", err
	}
	var schema sql.NullString
	if err := db.QueryRow("SELECT DATABASE()").Scan(&schema); err != nil {
		db.Close()
		return nil, "", err
	}
	if !schema.Valid {
		db.Close()
		return nil, "", errors.New("the DSN names no database")
	}
	return db, schema.String, nil
}

// verify compares the orders table with the load's model, every row it wrote.
func verify(dsn string, m *loadclient.Model) (bool, string, error) {
	db, schema, err := openDSN(dsn)
	if err != nil {
		return false, "", err
	}
	defer db.Close()
	diff, err := loadclient.Verify(context.Background(), db, schema, shop.Table, m)
	if err != nil {
		return false, "", err
	}
	if diff.Empty() {
		return true, "", nil
	}
	return false, diff.String(), nil
}
