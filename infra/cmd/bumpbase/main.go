// Command bumpbase re-pins the engine image's base images: it resolves
// each *_IMAGE tag of functions/engine/base-image.lock to the digest the
// registry serves today (the multi-platform index, so linux/arm64 is
// covered) and rewrites the lock and the Dockerfile's ARG defaults
// together. It is `make engine-image-bump`; review and commit the diff.
//
//	go run ./infra/cmd/bumpbase                                  # same tags, new digests
//	go run ./infra/cmd/bumpbase GO_IMAGE=golang:1.26.9-bookworm  # move a tag too
//
// It needs Docker with buildx (`docker buildx imagetools inspect`).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mad-bio/mad/infra/cdkstack"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bumpbase:", err)
		os.Exit(1)
	}
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func run(args []string) error {
	root := "."
	lockPath := filepath.Join(root, cdkstack.EngineBaseImageLock)
	dfPath := filepath.Join(root, cdkstack.EngineDockerfile)
	lockText, err := os.ReadFile(lockPath)
	if err != nil {
		return err
	}
	dfText, err := os.ReadFile(dfPath)
	if err != nil {
		return err
	}
	lock, err := cdkstack.ParseBaseImageLock(string(lockText))
	if err != nil {
		return err
	}
	tags := map[string]string{}
	for _, k := range lock.Keys {
		if strings.HasSuffix(k, "_IMAGE") {
			tags[k], _, _ = strings.Cut(lock.Values[k], "@")
		}
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if _, known := tags[k]; !ok || !known || strings.Contains(v, "@") {
			return fmt.Errorf("argument %q: want KEY=name:tag for one of the lock's *_IMAGE keys", a)
		}
		tags[k] = v
	}
	pins := map[string]string{}
	for k, tag := range tags {
		d, err := resolve(tag)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		pins[k] = tag + "@" + d
		fmt.Printf("%s=%s\n", k, pins[k])
	}
	newLock := cdkstack.SetPins(string(lockText), pins)
	status := fmt.Sprintf("# STATUS: resolved %s by make engine-image-bump", time.Now().UTC().Format("2006-01-02"))
	newLock = regexp.MustCompile(`(?m)^# STATUS:.*$`).ReplaceAllString(newLock, status)
	if _, err := cdkstack.ParseBaseImageLock(newLock); err != nil {
		return fmt.Errorf("rewritten lock: %w", err)
	}
	if err := os.WriteFile(lockPath, []byte(newLock), 0o644); err != nil {
		return err
	}
	return os.WriteFile(dfPath, []byte(cdkstack.SetPins(string(dfText), pins)), 0o644)
}

// resolve asks the registry for the digest of tag's manifest (list).
func resolve(tag string) (string, error) {
	out, err := exec.Command("docker", "buildx", "imagetools", "inspect", tag, "--format", "{{json .Manifest}}").Output()
	if err != nil {
		return "", fmt.Errorf("docker buildx imagetools inspect %s: %w", tag, err)
	}
	var m struct {
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(out, &m); err != nil || !digestRE.MatchString(m.Digest) {
		return "", fmt.Errorf("no digest for %s in %q", tag, out)
	}
	return m.Digest, nil
}
