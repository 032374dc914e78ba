/* Editable environment for the runtime the wrapper execs. */
#include <string.h>
#include <unistd.h>

#include "protectlambda/guard.h"

int pl_exec_env_init(struct pl_exec_env *env, char *const *envp)
{
    memset(env, 0, sizeof(*env));
    if (!envp)
        envp = environ;
    size_t n = 0;
    while (envp[n])
        n++;
    if (pl_array_reserve((void **)&env->vars, &env->cap, n + 1, sizeof(char *)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        env->vars[i] = pl_strdup(envp[i]);
        if (!env->vars[i]) {
            env->n = i;
            pl_exec_env_clean_up(env);
            return pl_raise(PL_ERR_NOMEM, "out of memory copying the environment");
        }
    }
    env->n = n;
    env->vars[n] = NULL;
    return 0;
}

void pl_exec_env_clean_up(struct pl_exec_env *env)
{
    for (size_t i = 0; i < env->n; i++)
        pl_free(env->vars[i]);
    pl_free(env->vars);
    memset(env, 0, sizeof(*env));
}

static ssize_t s_find(const struct pl_exec_env *env, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < env->n; i++)
        if (!strncmp(env->vars[i], name, nl) && env->vars[i][nl] == '=')
            return (ssize_t)i;
    return -1;
}

const char *pl_exec_env_get(const struct pl_exec_env *env, const char *name)
{
    ssize_t i = s_find(env, name);
    return i < 0 ? NULL : env->vars[i] + strlen(name) + 1;
}

int pl_exec_env_set(struct pl_exec_env *env, const char *name, const char *value)
{
    if (!name || !*name || strchr(name, '='))
        return pl_raise(PL_ERR_INVALID_ARG, "bad environment variable name '%s'", name ? name : "");
    struct pl_buf b = PL_BUF_INIT;
    if (pl_buf_appendf(&b, "%s=%s", name, value ? value : ""))
        return -1;
    char *kv = pl_buf_steal(&b, NULL);
    ssize_t i = s_find(env, name);
    if (i >= 0) {
        pl_free(env->vars[i]);
        env->vars[i] = kv;
        return 0;
    }
    if (pl_array_reserve((void **)&env->vars, &env->cap, env->n + 2, sizeof(char *))) {
        pl_free(kv);
        return -1;
    }
    env->vars[env->n++] = kv;
    env->vars[env->n] = NULL;
    return 0;
}

int pl_exec_env_unset(struct pl_exec_env *env, const char *name)
{
    ssize_t i = s_find(env, name);
    if (i < 0)
        return 0;
    pl_free(env->vars[i]);
    memmove(&env->vars[i], &env->vars[i + 1], (env->n - (size_t)i) * sizeof(char *));
    env->n--;
    return 0;
}
