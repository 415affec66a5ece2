package cli

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// myCnfSections are the sections of a MySQL/MariaDB option file that client programs read, in
// the order they are read (a later one wins): the mysql client reads [client], MariaDB's also
// [client-server] and [client-mariadb].
var myCnfSections = []string{"client", "client-server", "client-mariadb"}

// myCnfKeys maps the option names ghostgate takes from an option file to its own flags; every
// other option (ssl-*, socket, default-character-set, …) belongs to other programs and is left
// alone, as the mysql client leaves the options of mysqldump.
var myCnfKeys = map[string]string{"host": "host", "port": "port", "user": "user", "database": "database"}

// myCnf is what an option file's client sections say.
type myCnf struct {
	path     string
	values   map[string]string // by ghostgate flag name
	password string
}

// clientDefaults reads the file that --defaults-file names (on the command line, or else as
// lookup finds it: its environment variable or the config file), when the command has that flag.
func clientDefaults(fs *pflag.FlagSet, lookup func(name string) (string, bool)) (myCnf, error) {
	f := fs.Lookup("defaults-file")
	if f == nil {
		return myCnf{}, nil
	}
	path := f.Value.String()
	if !f.Changed {
		path, _ = lookup(f.Name)
	}
	if path == "" {
		return myCnf{}, nil
	}
	return readMyCnf(path)
}

// readMyCnf reads the client sections of a MySQL option file as the mysql client does: names
// with '-' or '_' alike, values optionally quoted (with \n, \t, \\, \s escapes), comments from
// '#' or ';' at the start of a line and from a '#' elsewhere outside quotes. !include and
// !includedir are not followed.
func readMyCnf(path string) (myCnf, error) {
	out := myCnf{path: path, values: map[string]string{}}
	f, err := os.Open(path)
	if err != nil {
		return out, usageErrorf("--defaults-file: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "", line[0] == '#', line[0] == ';', line[0] == '!':
			continue
		case line[0] == '[':
			name, ok := strings.CutSuffix(line, "]")
			if !ok {
				return out, usageErrorf("--defaults-file %s:%d: bad section header %q", path, n, line)
			}
			in = slices.Contains(myCnfSections, strings.ToLower(strings.TrimSpace(name[1:])))
			continue
		case !in:
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(k)), "_", "-")
		val, err := myCnfValue(strings.TrimSpace(v))
		if err != nil {
			return out, usageErrorf("--defaults-file %s:%d: %v", path, n, err)
		}
		if key == "password" {
			out.password = val
		} else if flag, ok := myCnfKeys[key]; ok {
			out.values[flag] = val
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("--defaults-file %s: %w", path, err)
	}
	return out, nil
}

// myCnfValue is an option file value: quoted (escapes resolved, a '#' kept), or bare up to a
// '#' comment.
func myCnfValue(v string) (string, error) {
	if v == "" || v[0] != '"' && v[0] != '\'' {
		val, _, _ := strings.Cut(v, "#")
		return strings.TrimSpace(val), nil
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == v[0]:
			return b.String(), nil
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(unescape(v[i]))
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("value %s: no closing %c", v, v[0])
}

// unescape is the character an option file's escape \c stands for: \n, \t, \r, \b, \s (a
// space), and c itself for the rest (\\, \", \').
func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'b':
		return '\b'
	case 's':
		return ' '
	}
	return c
}
