/* Replays fuzz inputs without libFuzzer: every file in the directories (or files) given on the
 * command line, plus a few thousand deterministic mutations of each, so builds without clang
 * still run every target over its seeds and past crash inputs. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long s_runs;

static uint32_t s_rand(uint32_t *st)
{
    *st ^= *st << 13, *st ^= *st >> 17, *st ^= *st << 5;
    return *st;
}

static void s_run(const uint8_t *d, size_t n)
{
    /* copy to an exact-size heap block so ASan builds catch overreads */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return;
    memcpy(copy, d, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    s_runs++;
}

static void s_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (16 << 20)) {
        fclose(f);
        return;
    }
    uint8_t *d = malloc((size_t)n + 1);
    if (d && fread(d, 1, (size_t)n, f) == (size_t)n) {
        s_run(d, (size_t)n);
        uint32_t st = 2463534242u ^ (uint32_t)n;
        for (int i = 0; i < 64 && n > 0; i++) { /* mutations: flips, truncations, inserts */
            uint8_t *m = malloc((size_t)n + 8);
            if (!m)
                break;
            memcpy(m, d, (size_t)n);
            size_t mn = (size_t)n;
            switch (s_rand(&st) % 3) {
            case 0: m[s_rand(&st) % mn] ^= (uint8_t)(1u << (s_rand(&st) % 8)); break;
            case 1: mn = s_rand(&st) % mn; break;
            default: {
                size_t at = s_rand(&st) % mn;
                static const char ins[] = "\"\\{[%&;";
                memmove(m + at + 1, m + at, mn - at);
                m[at] = (uint8_t)ins[s_rand(&st) % (sizeof(ins) - 1)];
                mn++;
            }
            }
            s_run(m, mn);
            free(m);
        }
    }
    free(d);
    fclose(f);
}

static void s_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        s_file(path);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        s_path(p);
    }
    closedir(dir);
}

int main(int argc, char **argv)
{
    s_run((const uint8_t *)"", 0);
    for (int i = 1; i < argc; i++)
        s_path(argv[i]);
    printf("replayed %lu inputs\n", s_runs);
    return 0;
}
