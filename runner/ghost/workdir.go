package ghost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrWorkDirNotPrivate is wrapped when a work directory (or the directory holding it) could be
// changed by another local user: gh-ost's socket and flag files live there, and the socket
// steers the migration (throttle, chunk size, panic).
var ErrWorkDirNotPrivate = errors.New("ghost: work dir is not private")

// privateDir makes dir ready for one migration: its parent is created (mode 0700) when missing
// and must otherwise be a real directory owned by this user or root that no one else can write
// (a sticky one such as /tmp is fine: others cannot rename or remove what is ours in it); dir
// itself is created with mode 0700, or, when it exists, must be a directory of ours that no one
// else can enter.
func privateDir(dir string) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("ghost: work dir: %w", err)
	}
	if err := checkOwned(parent, true); err != nil {
		return err
	}
	err := os.Mkdir(dir, 0o700)
	switch {
	case err == nil:
		// The umask may only have taken bits away; make the mode exact all the same.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("ghost: work dir: %w", err)
		}
		return nil
	case errors.Is(err, fs.ErrExist):
		return checkOwned(dir, false)
	default:
		return fmt.Errorf("ghost: work dir: %w", err)
	}
}

// checkOwned refuses a path that is a symlink, not a directory, owned by another user, or
// writable (readable and enterable too, unless parent) by group or others.
func checkOwned(path string, parent bool) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("ghost: work dir: %w", err)
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %s %s; use a directory only you can write, e.g. --work-dir $HOME/.ghostgate (mode 0700)",
			ErrWorkDirNotPrivate, path, why)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return bad("is a symbolic link")
	}
	if !st.IsDir() {
		return bad("is not a directory")
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return bad("has no owner information")
	}
	uid := uint32(os.Geteuid())
	if sys.Uid != uid && !(parent && sys.Uid == 0) {
		return bad(fmt.Sprintf("is owned by uid %d, not by this user (uid %d)", sys.Uid, uid))
	}
	perm := st.Mode().Perm()
	switch {
	case parent && perm&0o022 != 0 && st.Mode()&fs.ModeSticky == 0:
		return bad(fmt.Sprintf("is writable by other users (mode %#o)", perm))
	case !parent && perm&0o077 != 0:
		return bad(fmt.Sprintf("is open to other users (mode %#o, want 0700)", perm))
	}
	return nil
}
