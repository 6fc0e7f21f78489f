/* Helpers for the decpctl tests. Contract in ctl_test_util.h. */
#include "ctl_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	for (;;) {
		if (len + 1024 > cap) {
			cap *= 2;
			b = realloc(b, cap);
		}
		size_t n = fread(b + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	b[len] = '\0';
	return b;
}

int spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

int run_prog(char *const argv[], int timeout_s, struct run_result *r)
{
	char out[] = "/tmp/decpctl-out-XXXXXX", err[] = "/tmp/decpctl-err-XXXXXX";
	int fo = mkstemp(out), fe = mkstemp(err);
	memset(r, 0, sizeof(*r));
	if (fo < 0 || fe < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fo);
	close(fe);
	int st = 0;
	time_t deadline = time(NULL) + timeout_s;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			r->code = 124;
			goto done;
		}
		usleep(10000);
	}
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
done:
	r->out = slurp(out);
	r->err = slurp(err);
	unlink(out);
	unlink(err);
	if (r->out == NULL)
		r->out = strdup("");
	if (r->err == NULL)
		r->err = strdup("");
	return 0;
}

void run_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int tmpdir_make(char *out, size_t cap)
{
	if (snprintf(out, cap, "/tmp/decpctl-test-XXXXXX") >= (int)cap)
		return -1;
	return mkdtemp(out) != NULL ? 0 : -1;
}

void tmpdir_remove(const char *dir)
{
	if (strncmp(dir, "/tmp/decpctl-test-", 18) != 0)
		return;
	char *const av[] = {"/bin/rm", "-rf", (char *)dir, NULL};
	struct run_result r;
	if (run_prog(av, 30, &r) == 0)
		run_free(&r);
}

int copy_tree(const char *src, const char *dst)
{
	char *const av[] = {"/bin/cp", "-a", (char *)src, (char *)dst, NULL};
	struct run_result r;
	if (run_prog(av, 30, &r) != 0)
		return -1;
	int c = r.code;
	run_free(&r);
	return c;
}
