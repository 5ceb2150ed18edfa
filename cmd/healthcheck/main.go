// Command healthcheck is a container healthcheck for images without a shell
// or curl (the services run on distroless): `healthcheck URL` GETs URL and
// exits 0 when the answer is 2xx, 1 for anything else (another status, no
// answer within --timeout, a bad URL or bad arguments), as Docker's
// HEALTHCHECK expects.
//
//	healthcheck [--timeout 3s] http://127.0.0.1:9402/readyz
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run checks the URL in args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long (connect, request and response)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: healthcheck [--timeout 3s] URL\n\nExits 0 when GET URL answers 2xx, 1 otherwise.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 1
	}
	status, err := check(fs.Arg(0), *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return 1
	}
	fmt.Fprintln(stdout, status)
	return 0
}

// check GETs rawURL and returns its status line when it is 2xx.
func check(rawURL string, timeout time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", rawURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	// No proxy from the environment: the check is about this container.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("GET %s: no answer within %s", rawURL, timeout)
		}
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("GET %s: %s %q", rawURL, resp.Status, body)
	}
	return "GET " + rawURL + ": " + resp.Status, nil
}
