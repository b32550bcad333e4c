/*
 * Conformance (C, static musl libc): the classic Unix process calls through a real C library.
 * fork + execv of this program (found through argv[0]) in several roles, waitpid with the
 * status macros, a pipe wired to a child's stdout with dup2, an environment passed to execve,
 * a child killed by a signal, posix_spawn (musl: clone(CLONE_VM|CLONE_VFORK) + exec), and
 * malloc/qsort on a megabyte. stdout is unbuffered so output before a fork is never duplicated.
 * Everything printed is the same on every correct kernel; the exit status is 0 only if every
 * check passed.
 */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int failures;

static void expect(const char *label, long got, long want)
{
    if (got == want) {
        printf("%s: %ld\n", label, got);
    } else {
        printf("%s: %ld FAILED: expected %ld\n", label, got, want);
        failures++;
    }
}

/* The roles this program plays when run with arguments. */
static int child(int argc, char **argv)
{
    if (strcmp(argv[1], "square") == 0 && argc == 3) {
        long n = atol(argv[2]);
        printf("  child: %ld squared is %ld\n", n, n * n);
        return (int)((n * n) % 256);
    }
    if (strcmp(argv[1], "count") == 0 && argc == 3) {
        for (int i = 1; i <= atoi(argv[2]); i++)
            printf("%d\n", i);
        return 0;
    }
    if (strcmp(argv[1], "env") == 0) {
        const char *v = getenv("CONFORMANCE");
        printf("  child: CONFORMANCE=%s, HOME %s\n", v ? v : "(unset)",
               getenv("HOME") ? "set" : "unset");
        return 0;
    }
    if (strcmp(argv[1], "term") == 0) {
        raise(SIGTERM);
        return 1;
    }
    return 99;
}

static int compare(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

/* fork + execv(self, args); returns the wait status. */
static int run(char *self, char *const args[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(self, args);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        printf("fork/waitpid failed\n");
        failures++;
    }
    return status;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1)
        return child(argc, argv);
    char *self = argv[0];

    printf("fork + exec + wait:\n");
    for (int n = 3; n <= 5; n++) {
        char num[8];
        snprintf(num, sizeof num, "%d", n);
        char *args[] = {self, "square", num, NULL};
        int st = run(self, args);
        expect("  WIFEXITED", WIFEXITED(st), 1);
        expect("  WEXITSTATUS", WEXITSTATUS(st), (n * n) % 256);
    }

    char *args_term[] = {self, "term", NULL};
    int st = run(self, args_term);
    expect("child raising SIGTERM: WIFSIGNALED", WIFSIGNALED(st), 1);
    expect("  WTERMSIG", WTERMSIG(st), SIGTERM);

    pid_t pid = fork();
    if (pid == 0)
        _exit(42);
    waitpid(pid, &st, 0);
    expect("child calling _exit(42)", WEXITSTATUS(st), 42);

    printf("a pipe to a child's stdout:\n");
    int fds[2];
    expect("  pipe", pipe(fds), 0);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char *args[] = {self, "count", "10", NULL};
        execv(self, args);
        _exit(127);
    }
    close(fds[1]);
    char buf[256];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(fds[0]);
    long sum = 0;
    for (char *p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
        sum += atol(p);
    expect("  sum of the lines the child wrote (1..10)", sum, 55);
    waitpid(pid, &st, 0);
    expect("  child status", WEXITSTATUS(st), 0);

    printf("execve with an environment:\n");
    pid = fork();
    if (pid == 0) {
        char *args[] = {self, "env", NULL};
        char *env[] = {"CONFORMANCE=yes", NULL};
        execve(self, args, env);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    expect("  child status", WEXITSTATUS(st), 0);

    printf("posix_spawn:\n");
    char *spawn_args[] = {self, "square", "9", NULL};
    int spawned = posix_spawn(&pid, self, NULL, NULL, spawn_args, environ);
    waitpid(pid, &st, 0);
    /* Printed after the wait: the child runs concurrently and prints too. */
    expect("  posix_spawn", spawned, 0);
    expect("  child status", WEXITSTATUS(st), 81);
    char *missing[] = {"/no/such/program", NULL};
    int err = posix_spawn(&pid, "/no/such/program", NULL, NULL, missing, environ);
    if (err == 0) {
        waitpid(pid, &st, 0);
        err = WEXITSTATUS(st) == 127 ? 2 : -1;
    }
    expect("  posix_spawn of a missing program (ENOENT)", err, 2);

    printf("malloc and qsort:\n");
    size_t count = 1 << 18;
    unsigned *v = malloc(count * sizeof *v);
    unsigned x = 12345;
    for (size_t i = 0; i < count; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = x >> 8;
    }
    qsort(v, count, sizeof *v, compare);
    int sorted = 1;
    for (size_t i = 1; i < count; i++)
        sorted &= v[i - 1] <= v[i];
    expect("  a megabyte sorted", sorted, 1);
    free(v);

    printf(failures ? "c-fork-exec: %d checks FAILED\n" : "c-fork-exec: ok\n", failures);
    return failures ? 1 : 0;
}
