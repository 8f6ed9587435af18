package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Machine is what the run ran on. The load averages matter: the
// benchmarks share two cores with whatever else runs.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
	Commit    string  `json:"commit"`
	Etcd      string  `json:"etcd"`
	Envoy     string  `json:"envoy"`
	// GoControlPlane is the version of go-control-plane the baselines are
	// built with, from go.mod.
	GoControlPlane string `json:"go_control_plane,omitempty"`
	LoadBefore     string `json:"load_before"`
	LoadAfter      string `json:"load_after"`
}

func machine(root string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				if err == nil {
					m.MemoryGiB = round(kb/(1<<20), 1)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Commit = firstLine(exec.Command("git", "-C", root, "describe", "--always", "--dirty"))
	m.Etcd = firstLine(exec.Command(filepath.Join(root, "bin", "etcd"), "--version"))
	m.Envoy = firstLine(exec.Command(filepath.Join(root, "bin", "envoy"), "--version"))
	m.GoControlPlane = requiredVersion(filepath.Join(root, "go.mod"), "github.com/envoyproxy/go-control-plane")
	return m
}

// requiredVersion is the version go.mod requires of a module, or "".
func requiredVersion(gomod, module string) string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	return ""
}

// firstLine is the first non-empty line a command prints, or "".
func firstLine(cmd *exec.Cmd) string {
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
