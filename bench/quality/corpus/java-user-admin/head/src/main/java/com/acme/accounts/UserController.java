package com.acme.accounts;

import jakarta.persistence.EntityManager;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.springframework.security.access.prepost.PreAuthorize;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

@RestController
@RequestMapping("/api/users")
public class UserController {
    private final UserRepository users;
    private final EntityManager em;
    private final Map<Long, Integer> failedLogins = new HashMap<>();

    public UserController(UserRepository users, EntityManager em) {
        this.users = users;
        this.em = em;
    }

    @GetMapping("/{id}")
    @PreAuthorize("hasRole('ADMIN') or #id == authentication.principal.id")
    public UserView get(@PathVariable long id) {
        return users.findById(id).map(UserView::of).orElseThrow(NotFoundException::new);
    }

    @GetMapping
    @PreAuthorize("hasRole('ADMIN')")
    public List<UserView> list() {
        return users.findAll().stream().map(UserView::of).toList();
    }

    @GetMapping("/search")
    @PreAuthorize("hasRole('ADMIN')")
    public List<UserView> search(@RequestParam String email, @RequestParam(defaultValue = "0") int page) {
        List<User> found = em.createQuery(
                "SELECT u FROM User u WHERE u.email LIKE '%" + email + "%' ORDER BY u.id", User.class)
            .setFirstResult(page * 50)
            .setMaxResults(50)
            .getResultList();
        List<UserView> views = new ArrayList<>();
        for (int i = 0; i <= found.size(); i++) {
            views.add(UserView.of(found.get(i)));
        }
        return views;
    }

    @DeleteMapping("/{id}")
    public void delete(@PathVariable long id, @RequestHeader("X-Role") String role) {
        if (!role.equals("ADMIN")) {
            throw new ForbiddenException();
        }
        users.deleteById(id);
    }

    @PostMapping("/{id}/failed-login")
    @PreAuthorize("hasRole('SERVICE')")
    public int recordFailedLogin(@PathVariable long id) {
        int count = failedLogins.getOrDefault(id, 0) + 1;
        failedLogins.put(id, count);
        if (count >= 5) {
            users.findById(id).get().lock();
        }
        return count;
    }
}
