package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/pflag"
)

// Environment variables read for connections. Passwords are never required on the command line
// (where `ps` and shell history would show them).
const (
	EnvDSN          = "GHOSTGATE_DSN"
	EnvPassword     = "GHOSTGATE_PASSWORD"
	EnvPasswordFile = "GHOSTGATE_PASSWORD_FILE"
)

// ConnOptions says how to reach the primary.
type ConnOptions struct {
	DSN          string
	Host         string
	Port         int
	User         string
	Database     string
	PasswordFile string
	DefaultsFile string // a MySQL option file whose [client] section gives defaults (see mycnf.go)
	// AllowPasswordInFlag accepts a --dsn that carries a password (shown by `ps`).
	AllowPasswordInFlag bool
}

func (o *ConnOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DSN, "dsn", "", "Go MySQL DSN of the primary, e.g. 'user@tcp(127.0.0.1:3306)/shop' (or $"+EnvDSN+"); the password comes from $"+EnvPassword+" or --password-file when the DSN has none")
	fs.StringVarP(&o.Host, "host", "H", "127.0.0.1", "primary host")
	fs.IntVarP(&o.Port, "port", "P", 3306, "primary port")
	fs.StringVarP(&o.User, "user", "u", "root", "user")
	fs.StringVarP(&o.Database, "database", "d", "", "default database for unqualified table names")
	fs.StringVar(&o.PasswordFile, "password-file", "", "file whose first line is the password (or $"+EnvPasswordFile+"; else $"+EnvPassword+")")
	fs.StringVar(&o.DefaultsFile, "defaults-file", "", "a MySQL option file (my.cnf): host, port, user, password and database of its [client] section, where no flag, $GHOSTGATE_<FLAG> or --config says otherwise")
	fs.BoolVar(&o.AllowPasswordInFlag, "allow-password-in-flag", false, "accept a --dsn that carries a password, although `ps` and shell history show it")
}

// ErrPasswordInFlag refuses a --dsn with a password in it: every user of the host sees a
// process's arguments (`ps`, /proc/<pid>/cmdline), and shells keep them in their history
// (issue 10).
var ErrPasswordInFlag = errors.New("--dsn carries a password, which `ps` and shell history show to others: " +
	"drop it from the DSN and give it in $" + EnvPassword + " or a file (--password-file, $" + EnvPasswordFile + "), " +
	"or set the whole DSN in $" + EnvDSN + "; --allow-password-in-flag accepts it anyway")

// config builds the driver config: --dsn / $GHOSTGATE_DSN wins over host/port/user; the password
// comes from the DSN, --password-file, $GHOSTGATE_PASSWORD_FILE, $GHOSTGATE_PASSWORD or the
// --defaults-file's [client] section, in that order.
func (o *ConnOptions) config() (*mysql.Config, error) {
	dsn := o.DSN
	if dsn == "" {
		dsn = os.Getenv(EnvDSN)
	}
	var cfg *mysql.Config
	if dsn != "" {
		c, err := mysql.ParseDSN(dsn)
		if err != nil {
			return nil, usageErrorf("--dsn: %v", err)
		}
		// A DSN from the environment is not on the command line; anything else (the flag, a
		// config file setting it) is refused with a password in it.
		if c.Passwd != "" && o.DSN != "" && o.DSN != os.Getenv(EnvDSN) && !o.AllowPasswordInFlag {
			return nil, &UsageError{Err: ErrPasswordInFlag}
		}
		cfg = c
		if o.Database != "" {
			cfg.DBName = o.Database
		}
	} else {
		if o.Port <= 0 || o.Port > 65535 {
			return nil, usageErrorf("--port %d: must be 1-65535", o.Port)
		}
		cfg = mysql.NewConfig()
		cfg.Net = "tcp"
		cfg.Addr = net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
		cfg.User = o.User
		cfg.DBName = o.Database
	}
	if cfg.Passwd == "" {
		pw, err := o.password()
		if err != nil {
			return nil, err
		}
		cfg.Passwd = pw
	}
	cfg.ParseTime = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return cfg, nil
}

func (o *ConnOptions) password() (string, error) {
	file := o.PasswordFile
	if file == "" {
		file = os.Getenv(EnvPasswordFile)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if pw, ok := os.LookupEnv(EnvPassword); ok {
		return pw, nil
	}
	if o.DefaultsFile != "" {
		cnf, err := readMyCnf(o.DefaultsFile)
		if err != nil {
			return "", err
		}
		return cnf.password, nil
	}
	return "", nil
}

// open connects and pings, with an error that names the server.
func (o *ConnOptions) open(ctx context.Context) (*sql.DB, *mysql.Config, error) {
	cfg, err := o.config()
	if err != nil {
		return nil, nil, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", cfg.Addr, err)
	}
	db := sql.OpenDB(conn)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, nil, ErrCancelled
		}
		return nil, nil, fmt.Errorf("connect to %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	return db, cfg, nil
}
