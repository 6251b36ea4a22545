package cdkstack

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// PlaceholderDigest marks a base image whose digest was never resolved.
const PlaceholderDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// BaseImageLock is functions/engine/base-image.lock: KEY=VALUE lines
// (comments start with #) passed to the engine's Dockerfile as build args.
// *_IMAGE values are "name:tag@sha256:<digest>".
type BaseImageLock struct {
	Keys   []string
	Values map[string]string
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)

// requiredLockKeys are the build args the Dockerfile's FROM lines use.
var requiredLockKeys = []string{"GO_IMAGE", "BASE_IMAGE"}

// ReadBaseImageLock reads and checks the lock file under root.
func ReadBaseImageLock(root string) (BaseImageLock, error) {
	b, err := os.ReadFile(filepath.Join(root, EngineBaseImageLock))
	if err != nil {
		return BaseImageLock{}, fmt.Errorf("engine base image lock: %w", err)
	}
	l, err := ParseBaseImageLock(string(b))
	if err != nil {
		return l, fmt.Errorf("%s: %w", EngineBaseImageLock, err)
	}
	return l, nil
}

// ParseBaseImageLock parses the lock's text. Every *_IMAGE must be pinned
// by tag and digest.
func ParseBaseImageLock(text string) (BaseImageLock, error) {
	l := BaseImageLock{Values: map[string]string{}}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return l, fmt.Errorf("line %d: want KEY=VALUE", i+1)
		}
		if _, dup := l.Values[k]; dup {
			return l, fmt.Errorf("line %d: %s given twice", i+1, k)
		}
		if strings.HasSuffix(k, "_IMAGE") && !pinnedImage.MatchString(v) {
			return l, fmt.Errorf("line %d: %s=%q is not pinned as name:tag@sha256:<64 hex>", i+1, k, v)
		}
		l.Keys = append(l.Keys, k)
		l.Values[k] = v
	}
	for _, k := range requiredLockKeys {
		if l.Values[k] == "" {
			return l, fmt.Errorf("%s is missing", k)
		}
	}
	return l, nil
}

// BuildArgs returns the lock as Docker build args.
func (l BaseImageLock) BuildArgs() map[string]string {
	out := map[string]string{}
	for _, k := range l.Keys {
		out[k] = l.Values[k]
	}
	return out
}

// Placeholder reports whether some image still has the placeholder digest.
func (l BaseImageLock) Placeholder() bool {
	for _, k := range l.Keys {
		if strings.HasSuffix(l.Values[k], "@"+PlaceholderDigest) {
			return true
		}
	}
	return false
}

var argLine = regexp.MustCompile(`(?m)^ARG ([A-Z_]+)=(.*)$`)

// DockerfileArgDefaults returns the ARG defaults of a Dockerfile.
func DockerfileArgDefaults(dockerfile string) map[string]string {
	out := map[string]string{}
	for _, m := range argLine.FindAllStringSubmatch(dockerfile, -1) {
		out[m[1]] = strings.TrimSpace(m[2])
	}
	return out
}

// SetPins rewrites KEY=value lines of a lock file and "ARG KEY=value"
// lines of a Dockerfile to the given values, leaving everything else.
func SetPins(text string, values map[string]string) string {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		prefix := ""
		rest := line
		if strings.HasPrefix(line, "ARG ") {
			prefix, rest = "ARG ", strings.TrimPrefix(line, "ARG ")
		}
		k, _, ok := strings.Cut(rest, "=")
		if v, set := values[k]; ok && set {
			lines[i] = prefix + k + "=" + v
		}
	}
	return strings.Join(lines, "\n")
}
