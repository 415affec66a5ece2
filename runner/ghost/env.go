package ghost

import "strings"

// secretEnv are the environment variables that hold secrets of the controller. The worker gets
// the password on stdin (its Spec), so it must not inherit them: a child's environment is
// readable in /proc/<pid>/environ for as long as it runs, and gh-ost does not need them
// (issue 10: the worker inherited GHOSTGATE_PASSWORD).
var secretEnv = []string{"GHOSTGATE_PASSWORD", "GHOSTGATE_DSN", "GHOSTGATE_TOKEN", "GHOSTGATE_PARTICIPANT_SECRET", "MYSQL_PWD"}

// workerEnv is env without the secret variables.
func workerEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		secret := false
		for _, s := range secretEnv {
			secret = secret || name == s
		}
		if !secret {
			out = append(out, kv)
		}
	}
	return out
}
