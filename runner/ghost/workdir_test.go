package ghost

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// otherUID owns the directories "not owned by us": nobody on Debian. The tests run as root here;
// chown to another uid needs that (or CAP_CHOWN), so a test that cannot arrange the case fails
// rather than pass without checking it.
const otherUID = 65534

// TestPrivateDirRefuses: every way another local user could reach the socket or the flag files
// is refused with ErrWorkDirNotPrivate and a message that names the path and the problem.
func TestPrivateDirRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, root string) (dir string)
		want  string
	}{
		{"existing dir owned by another user", func(t *testing.T, root string) string {
			dir := filepath.Join(root, "m1")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chown(dir, otherUID, otherUID))
			return dir
		}, "is owned by uid 65534"},
		{"existing dir open to others", func(t *testing.T, root string) string {
			dir := filepath.Join(root, "m1")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, 0o755)) // explicit: the umask does not decide
			return dir
		}, "is open to other users (mode 0755, want 0700)"},
		{"existing dir writable by its group", func(t *testing.T, root string) string {
			dir := filepath.Join(root, "m1")
			require.NoError(t, os.Mkdir(dir, 0o700))
			require.NoError(t, os.Chmod(dir, 0o770))
			return dir
		}, "is open to other users (mode 0770"},
		{"parent writable by others, not sticky", func(t *testing.T, root string) string {
			parent := filepath.Join(root, "shared")
			require.NoError(t, os.Mkdir(parent, 0o700))
			require.NoError(t, os.Chmod(parent, 0o777))
			return filepath.Join(parent, "m1")
		}, "shared is writable by other users (mode 0777)"},
		{"parent owned by another user", func(t *testing.T, root string) string {
			parent := filepath.Join(root, "theirs")
			require.NoError(t, os.Mkdir(parent, 0o755))
			require.NoError(t, os.Chown(parent, otherUID, otherUID))
			return filepath.Join(parent, "m1")
		}, "theirs is owned by uid 65534"},
		{"dir is a symlink to a private dir", func(t *testing.T, root string) string {
			target := filepath.Join(root, "elsewhere")
			require.NoError(t, os.Mkdir(target, 0o700))
			dir := filepath.Join(root, "m1")
			require.NoError(t, os.Symlink(target, dir))
			return dir
		}, "m1 is a symbolic link"},
		{"parent is a symlink", func(t *testing.T, root string) string {
			target := filepath.Join(root, "elsewhere")
			require.NoError(t, os.Mkdir(target, 0o700))
			link := filepath.Join(root, "link")
			require.NoError(t, os.Symlink(target, link))
			return filepath.Join(link, "m1")
		}, "link is a symbolic link"},
		{"dir is a file", func(t *testing.T, root string) string {
			dir := filepath.Join(root, "m1")
			require.NoError(t, os.WriteFile(dir, nil, 0o600))
			return dir
		}, "m1 is not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.setup(t, t.TempDir())
			err := privateDir(dir)
			require.ErrorIs(t, err, ErrWorkDirNotPrivate)
			require.Contains(t, err.Error(), c.want)
			require.Contains(t, err.Error(), "use a directory only you can write", "the message says how to fix it")
		})
	}
}

// TestPrivateDirAccepts: a fresh dir is created 0700 whatever the umask allowed; a parent that is
// created is 0700 too; an existing private dir and a sticky world-writable parent (as /tmp) are
// fine.
func TestPrivateDirAccepts(t *testing.T) {
	root := t.TempDir()

	fresh := filepath.Join(root, "a", "b", "m1")
	require.NoError(t, privateDir(fresh))
	for _, p := range []string{fresh, filepath.Dir(fresh)} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), p)
	}
	require.NoError(t, privateDir(fresh), "an existing private dir of ours is reused")

	sticky := filepath.Join(root, "tmp")
	require.NoError(t, os.Mkdir(sticky, 0o700))
	require.NoError(t, os.Chmod(sticky, 0o777|os.ModeSticky))
	require.NoError(t, privateDir(filepath.Join(sticky, "m1")))
}
