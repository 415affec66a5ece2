package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer for a command's output read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Issue 10: a transaction holding rows of the table (SELECT … FOR UPDATE) at the cut-over was
// never named by `migrate run` with its defaults. Now the gate holds the rename while it is open
// and names it (connection id, user, age, and the statement while one runs); the run completes
// once it commits. The transaction here locks its row in share mode: gh-ost's copy reads with
// LOCK IN SHARE MODE, which a FOR UPDATE taken before the copy would block for
// innodb_lock_wait_timeout; at the cut-over both hold the table's metadata lock alike.
func TestRunNamesALongTransactionByDefault(t *testing.T) {
	d := newOrders(t)
	conn := connArgs(t, d)
	args := runArgs(t, conn, "--replica", d.Env.Replica.Addr(), "ALTER TABLE orders MODIFY qty BIGINT NOT NULL")
	holder, err := d.Primary.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Close() })
	var id int64
	require.NoError(t, holder.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&id))
	_, err = holder.ExecContext(context.Background(), "BEGIN")
	require.NoError(t, err)
	_, err = holder.ExecContext(context.Background(), "SELECT * FROM orders WHERE id = 1 LOCK IN SHARE MODE")
	require.NoError(t, err)
	time.Sleep(DefaultGateMaxTransactionAge + time.Second) // older than the default when the copy ends

	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Execute(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	}()
	named := fmt.Sprintf("conn %d (%s@", id, d.Env.Primary.User)
	require.Eventually(t, func() bool {
		s := errOut.String()
		return strings.Contains(s, "cut-over gate closed") && strings.Contains(s, "transactions") && strings.Contains(s, named) && strings.Contains(s, ", Sleep, ")
	}, 2*time.Minute, 100*time.Millisecond, "the blocker is named: %s", &errOut)
	select {
	case code := <-done:
		t.Fatalf("the run ended (%d) while the transaction was open:\n%s\n%s", code, out.String(), errOut.String())
	case <-time.After(time.Second):
	}
	_, err = holder.ExecContext(context.Background(), "COMMIT")
	require.NoError(t, err)
	select {
	case code := <-done:
		require.Equal(t, ExitOK, code, out.String()+errOut.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("the run did not complete after the commit:\n%s", errOut.String())
	}
	require.Contains(t, errOut.String(), "cut-over gate open")
	require.Equal(t, "bigint(20)", d.ColumnType(t, "orders", "qty"))
}

// The default is on, in both commands.
func TestGateMaxTransactionAgeDefault(t *testing.T) {
	for _, name := range []string{"run", "serve"} {
		cmd, _, err := NewRootCmd(IO{}).Find([]string{name})
		require.NoError(t, err)
		f := cmd.Flags().Lookup("gate-max-transaction-age")
		require.NotNil(t, f, name)
		require.Equal(t, DefaultGateMaxTransactionAge.String(), f.DefValue, name)
	}
}
