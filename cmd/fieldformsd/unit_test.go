package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit in deploy/ restarts the server always, watches it, and lets it
// write only the folders it names on its command line.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "fieldformsd.service")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q", path, line)
		}
		keys[k] = append(keys[k], v)
	}
	for k, want := range map[string]string{"Type": "notify", "Restart": "always", "RestartSec": "2", "WatchdogSec": "30",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "User": "fieldforms", "StartLimitIntervalSec": "0"} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %s", k, got, want)
		}
	}
	rw := strings.Fields(strings.Join(keys["ReadWritePaths"], " "))
	exec0 := strings.Fields(strings.Join(keys["ExecStart"], " "))
	for i, a := range exec0 {
		if a == "--config" || a == "--data" || a == "--backup-dir" {
			dir := exec0[i+1]
			covered := false
			for _, p := range rw {
				if dir == p || strings.HasPrefix(dir, p+"/") {
					covered = true
				}
			}
			if !covered {
				t.Errorf("%s %s is not in ReadWritePaths %v", a, dir, rw)
			}
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// Check the syntax with a command that exists here.
		tmp := filepath.Join(t.TempDir(), "fieldformsd.service")
		os.WriteFile(tmp, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/fieldformsd", "/bin/true")), 0o644)
		if out, err := exec.Command(sa, "verify", tmp).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
}
